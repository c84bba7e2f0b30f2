#!/usr/bin/env bash
# Peak memory of `restore FILE` into an empty embedded repository, for
# synthetic backups of growing size (scripts/bench/gen-backup.py), release
# build. Prints one table row per size: items, file size, peak RSS
# (/usr/bin/time -v "Maximum resident set size"), wall time.
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
printf '| items | backup file | peak RSS of restore | wall |\n|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
    python3 scripts/bench/gen-backup.py "$n" > "$work/in.json"
    size=$(stat -c %s "$work/in.json")
    /usr/bin/time -v "$BIN" --local-dir "$work/repo-$n" restore -y "$work/in.json" \
        2> "$work/time.txt" > /dev/null || { cat "$work/time.txt" >&2; exit 1; }
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    printf '| %d | %d MB | %d MB | %s |\n' "$n" $((size / 1000000)) $((rss / 1024)) "$wall"
    rm -rf "$work/repo-$n"
done
