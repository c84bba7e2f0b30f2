#!/usr/bin/env bash
# Builds N small synthetic binary packages with the real dpkg-deb, in
# parallel, into OUTDIR: bench-pkg-00000_1.0-1_amd64.deb ... (files already
# there are kept, so a cache directory grows as needed). Each holds a
# control file (Package, Version, Architecture, Maintainer, Description; no
# Section or Priority, as many CI-built packages) and DATA_BYTES (default
# 1000) random bytes under /usr/share/doc. gzip members, as dpkg-deb's
# historical default and what most CI tooling produces.
#
#   make-debs.sh N OUTDIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: make-debs.sh N OUTDIR" >&2; exit 2; }
n=$1 out=$2
mkdir -p "$out"

build_one() {
    local i=$1 out=$2 name tree
    name=$(printf 'bench-pkg-%05d' "$i")
    [ -s "$out/${name}_1.0-1_amd64.deb" ] && return 0
    tree=$(mktemp -d)
    mkdir -p "$tree/DEBIAN" "$tree/usr/share/doc/$name"
    head -c "${DATA_BYTES:-1000}" /dev/urandom >"$tree/usr/share/doc/$name/data"
    cat >"$tree/DEBIAN/control" <<EOF
Package: $name
Version: 1.0-1
Architecture: amd64
Maintainer: Repoman Bench <bench@example.com>
Description: synthetic package $i for repoman's benchmarks
 Built by scripts/bench/make-debs.sh.
EOF
    dpkg-deb --root-owner-group -Zgzip --build "$tree" "$out/${name}_1.0-1_amd64.deb.tmp" >/dev/null
    mv "$out/${name}_1.0-1_amd64.deb.tmp" "$out/${name}_1.0-1_amd64.deb"
    rm -rf "$tree"
}
export -f build_one

seq 0 $((n - 1)) | xargs -P "$(nproc)" -n 50 bash -c 'for i in "$@"; do build_one "$i" '"'$out'"'; done' _
