#!/usr/bin/env bash
# Runs every benchmark and prints one table (Markdown) on standard output;
# progress and each script's own table go to standard error.
#
#   scripts/bench/run-all.sh [SCRIPT...]   default: publish-debian publish-changes
#                                          publish-memory peers add query,
#                                          and backup-sdb when sdb-local and
#                                          moto_server are there
#
# About 4-5 minutes on a quiet 2-core machine; up to 25 when other jobs keep
# the disk busy (add syncs every file, so it waits on the disk). Inputs that are slow to make (the Debian index, the
# synthetic packages) are kept in target/bench-cache between runs. See
# docs/performance.md for what each figure means.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
need_repoman

scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
    scripts=(publish-debian publish-changes publish-memory peers add query)
    if [ -x "$(dirname "$REPOMAN_BIN")/sdb-local" ] \
        && { [ -x "$BENCH_ROOT/.venv/bin/moto_server" ] || command -v moto_server >/dev/null; }; then
        scripts+=(backup-sdb)
    else
        log "skipping backup-sdb: needs target/release/sdb-local and moto_server"
    fi
fi

tmpdir out
export BENCH_RESULTS=$out/results.tsv
: >"$BENCH_RESULTS"
failed=()
start=$(now)
for s in "${scripts[@]}"; do
    log "== $s"
    t0=$(now)
    if ! bash "$here/$s.sh" >&2; then failed+=("$s"); fi
    log "== $s: $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
done

echo "repoman benchmarks, $(date -u +%Y-%m-%d), $(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
echo "machine: $(machine_line); total $(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
echo
{
    printf 'benchmark\tours\treference\tratio / rate\ttarget\tverdict\n'
    cat "$BENCH_RESULTS"
} | table
if ((${#failed[@]})); then
    echo
    echo "FAILED: ${failed[*]}"
    exit 1
fi
