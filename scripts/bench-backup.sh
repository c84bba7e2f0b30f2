#!/usr/bin/env bash
# Backup and restore throughput on the embedded backend (SQLite + a local
# directory), release build. Generates a backup file of N package items with
# python3 (binary packages with ~700 characters of control text in three
# fragments, one source package in ten), then times:
#   restore   into an empty repository (every item new)
#   restore   again (every item unchanged: planning only, nothing written)
#   backup    to a file (-o)
# and checks that a second repository restored from our own backup backs up
# to the same bytes.
# Usage: scripts/bench-backup.sh [N...]   (default: 10000 60000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10000 60000)

cargo build --release --no-default-features --bin repoman-cli >&2
bin="$PWD/target/release/repoman-cli"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen() { python3 scripts/bench/gen-backup.py "$1"; }

# timed CMD...: runs CMD (its stderr discarded) and prints "wall cpu"
# seconds (cpu = user + system of the process).
timed() {
    local TIMEFORMAT='%R %U %S' t
    t=$( { time "$@" 2>/dev/null >/dev/null; } 2>&1 )
    python3 -c "import sys; w,u,s=map(float,sys.argv[1:]); print('%.2f %.2f' % (w, u+s))" $t
}
cell() { # n "wall cpu" -> "W s (R items/s), cpu C s"
    python3 -c "import sys; n=int(sys.argv[1]); w,c=map(float,sys.argv[2].split()); print('%.2f s (%d items/s), CPU %.2f s' % (w, n/max(w,0.001), c))" "$1" "$2"
}

printf '| items | restore into an empty store | restore again (all unchanged) | backup -o FILE | backup size |\n'
printf '|---:|---:|---:|---:|---:|\n'
for n in "${sizes[@]}"; do
    gen "$n" > "$work/in-$n.json"
    repo="$work/repo-$n"
    r1=$(timed "$bin" --local-dir "$repo" restore "$work/in-$n.json")
    r2=$(timed "$bin" --local-dir "$repo" restore "$work/in-$n.json")
    b=$(timed "$bin" --local-dir "$repo" backup -o "$work/out-$n.json")
    # Our own backup round-trips to identical bytes.
    "$bin" --local-dir "$work/again-$n" restore "$work/out-$n.json" 2>/dev/null
    "$bin" --local-dir "$work/again-$n" backup -o "$work/again-$n.json" 2>/dev/null
    cmp -s "$work/out-$n.json" "$work/again-$n.json" || { echo "round trip differs for $n items" >&2; exit 1; }
    size=$(stat -c %s "$work/out-$n.json")
    printf '| %d | %s | %s | %s | %d MB |\n' "$n" "$(cell "$n" "$r1")" "$(cell "$n" "$r2")" "$(cell "$n" "$b")" $((size / 1000000))
done
