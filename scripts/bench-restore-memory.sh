#!/usr/bin/env bash
# Peak memory of `restore FILE` for synthetic backups of growing size
# (scripts/bench/gen-backup.py), release build: into an empty embedded
# repository (every item written), then the same file again into the
# same repository (every item compared with the stored one, nothing
# written). Prints one table row per size: items, file size, and for each
# restore the peak RSS (/usr/bin/time -v "Maximum resident set size"), the
# peak of its anonymous part (RssAnon of /proc/PID/status, sampled every
# 0.1 s: the heap, without the store's database file that SQLite maps and
# the kernel can drop) and the wall time.
# Usage: scripts/bench-restore-memory.sh [N...]   (default: 45000 170000,
# about 60 MB and 230 MB)  BIN=path overrides the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(45000 170000)
if [ -z "${BIN:-}" ]; then
    cargo build --release --no-default-features --bin repoman-cli >&2
    BIN="$PWD/target/release/repoman-cli"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Runs a restore under time -v; prints "RSS_MB ANON_MB WALL".
measure() {
    /usr/bin/time -v "$BIN" --local-dir "$1" restore -y "$2" \
        2> "$work/time.txt" > /dev/null &
    local tpid=$! anon=0 pid a
    while kill -0 "$tpid" 2> /dev/null; do
        pid=$(pgrep -P "$tpid" | head -1 || true)
        if [ -n "$pid" ]; then
            a=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2> /dev/null || echo 0)
            [ "${a:-0}" -gt "$anon" ] && anon=$a
        fi
        sleep 0.1
    done
    wait "$tpid" || { cat "$work/time.txt" >&2; exit 1; }
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    echo "$((rss / 1024)) $((anon / 1024)) $wall"
}
printf '| items | backup file | empty store: peak RSS | of it anonymous | wall | again (all unchanged): peak RSS | of it anonymous | wall |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
    python3 scripts/bench/gen-backup.py "$n" > "$work/in.json"
    size=$(stat -c %s "$work/in.json")
    read -r rss1 anon1 wall1 < <(measure "$work/repo-$n" "$work/in.json")
    read -r rss2 anon2 wall2 < <(measure "$work/repo-$n" "$work/in.json")
    printf '| %d | %d MB | %d MB | %d MB | %s | %d MB | %d MB | %s |\n' "$n" \
        $((size / 1000000)) "$rss1" "$anon1" "$wall1" "$rss2" "$anon2" "$wall2"
    rm -rf "$work/repo-$n"
done
