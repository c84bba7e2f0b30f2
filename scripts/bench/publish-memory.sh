#!/usr/bin/env bash
# Peak memory of publish and query as the repository grows: one index of
# about 16k, 63k and 250k items, each a repository of its own.
#
#   16k    the first quarter (15,860 stanzas) of the Debian bookworm main
#          amd64 index (see publish-debian.sh)
#   63k    the whole index (63,440 stanzas)
#   250k   the index four times over, each copy's package names suffixed
#          (-x0 .. -x3): 253,760 stanzas
#
# Each set becomes a backup file (packages-to-backup.py, kept in the cache)
# restored into a fresh embedded repository; then `publish --force` (a full
# publish: every index built, gzipped and written) and `query -f json` (the
# whole repository, printed to /dev/null) run under /usr/bin/time -v.
# Target: peak RSS under 128 MB for both, flat as the repository grows.
source "$(dirname "$0")/lib.sh"
need_repoman

index=$(debian_index)
conv=$BENCH_ROOT/scripts/bench/packages-to-backup.py

# variant NAME: prints the path of the backup file of set NAME (made once).
variant() {
    local name=$1 out=$BENCH_CACHE/memory-$1-backup.json packages
    if [ ! -s "$out" ] || [ "$out" -ot "$index" ] || [ "$out" -ot "$conv" ]; then
        packages=$BENCH_CACHE/memory-$name-Packages
        case $name in
            16k) awk 'BEGIN { RS = ""; ORS = "\n\n" } NR <= 15860' "$index" >"$packages" ;;
            63k) cp "$index" "$packages" ;;
            250k)
                for k in 0 1 2 3; do
                    awk -v k="$k" 'BEGIN { RS = ""; ORS = "\n\n" } { sub(/^Package: [^\n]*/, "&-x" k); print }' "$index"
                done >"$packages"
                ;;
        esac
        log "turning the $name set into a backup file"
        python3 "$conv" "$packages" bookworm main "$out.tmp" >/dev/null
        mv "$out.tmp" "$out"
        rm -f "$packages"
    fi
    printf '%s\n' "$out"
}

# peak DIR ARGS...: "<peak RSS in MB> <wall seconds>" of repoman ARGS on DIR.
peak() {
    local dir=$1 t
    shift
    t=$(mktemp)
    /usr/bin/time -f '%M %e' -o "$t" "$REPOMAN_BIN" --local-dir "$dir" "$@" </dev/null >/dev/null 2>"$BENCH_LAST_ERR" \
        || { cat "$BENCH_LAST_ERR" >&2; die "repoman $* failed"; }
    awk '{ printf "%.1f %s\n", $1 / 1024, $2 }' "$t"
    rm -f "$t"
}

for set in 16k 63k 250k; do
    backup=$(variant "$set")
    tmpdir r
    repoman "$r" restore "$backup" >/dev/null 2>"$BENCH_LAST_ERR" \
        || { cat "$BENCH_LAST_ERR" >&2; die "restore of the $set set failed"; }
    read -r prss pwall < <(peak "$r" publish --force)
    n=$(grep -c '^Package: ' "$r/bucket/dists/bookworm/main/binary-amd64/Packages")
    read -r qrss qwall < <(peak "$r" query -f json)
    db=$(du -sm "$r" | cut -f1)
    log "$set: $n items, publish $prss MB ($pwall s), query -f json $qrss MB ($qwall s), repository $db MB"
    row "peak RSS at $n items: publish --force / query -f json" "$prss MB / $qrss MB" \
        "repository $db MB on disk" "$pwall s / $qwall s" "< 128 MB, flat" "$(verdict "$prss < 128 && $qrss < 128")"
    rm -rf "$r"
done
echo "publish and query memory: one run each; $(machine_line)"
print_table
