#!/usr/bin/env bash
# Peak memory of `restore FILE` for synthetic backups of growing size
# (scripts/bench/gen-backup.py), release build: into an empty embedded
# repository (every item written), then the same file again into the
# same repository (every item compared with the stored one, nothing
# written). Prints one table row per size: items, file size, peak RSS
# (/usr/bin/time -v "Maximum resident set size") and wall time of each.
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
# Runs a restore under time -v; prints "RSS_MB WALL".
measure() {
    /usr/bin/time -v "$BIN" --local-dir "$1" restore -y "$2" \
        2> "$work/time.txt" > /dev/null || { cat "$work/time.txt" >&2; exit 1; }
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    echo "$((rss / 1024)) $wall"
}
printf '| items | backup file | peak RSS, empty store | wall | peak RSS, again (all unchanged) | wall |\n'
printf '|---:|---:|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
    python3 scripts/bench/gen-backup.py "$n" > "$work/in.json"
    size=$(stat -c %s "$work/in.json")
    read -r rss1 wall1 < <(measure "$work/repo-$n" "$work/in.json")
    read -r rss2 wall2 < <(measure "$work/repo-$n" "$work/in.json")
    printf '| %d | %d MB | %d MB | %s | %d MB | %s |\n' "$n" $((size / 1000000)) \
        "$rss1" "$wall1" "$rss2" "$wall2"
    rm -rf "$work/repo-$n"
done
