#!/usr/bin/env bash
# Times `publish` on synthetic repositories of 10,000 and 60,000 packages
# (about 1 KB of control text each) in the embedded store, beside the floor:
# `gzip -6` plus `sha256sum` over the same Packages bytes.
#
#   scripts/bench-publish.sh [N ...]      (default: 10000 60000)
#
# Each run prints one line of key=value figures:
#   publish_s       the whole publish (read, build, hash, gzip, spool, write)
#   prepare_s       until the first file is written (read, build, hash, gzip, spool)
#   write_s         writing every file (by-hash names, indices, Releases)
#   store_read_s    the store query for the Packages index alone, timed apart
#   hash_gzip_s     repoman's hashing (MD5, SHA-1, SHA-256, SHA-512) and gzip
#                   of the index, timed apart
#   floor_s         gzip -6 + sha256sum on the same bytes
#   ratio           publish_s / floor_s; ratio_without_read leaves out store_read_s
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --no-default-features --example bench_publish >&2
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 60000)
echo "machine: $(nproc) cores, $(uname -sr); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in "${sizes[@]}"; do
    for run in 1 2 3; do
        target/release/examples/bench_publish "$n"
    done
done
