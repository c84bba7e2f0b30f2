#!/usr/bin/env bash
# query latency on the Debian-shaped store (~63k items, see publish-debian.sh):
#
#   name      `query -p bash`: one package looked up by name
#   prefix    `query -w -p libreoffice`: a name prefix (a few hundred items)
#   latest    `query --latest`: the newest version of every package, listed
#   all       `query`: every item, listed
#
# Each is a whole process (start, open the store, query, print to
# /dev/null): what a user or a CI step sees. BENCH_RUNS runs (default 5).
source "$(dirname "$0")/lib.sh"
need_repoman
RUNS=${BENCH_RUNS:-5}

tmpdir repo
log "loading the Debian-shaped store"
debian_store "$repo"
items=$(debian_backup_items)

# Sanity: the lookups find what the index holds.
[ "$(repoman "$repo" query -p bash -f json | grep -c '"name"')" -ge 1 ] || die "query -p bash found nothing"

declare -A label=(
    [name]="query -p bash (name lookup)"
    [prefix]="query -w -p libreoffice (prefix)"
    [latest]="query --latest (every package)"
    [all]="query (every item)"
)
declare -A args=(
    [name]="-p bash"
    [prefix]="-w -p libreoffice"
    [latest]="--latest"
    [all]=""
)
order=(name prefix latest all)
repoman "$repo" query -p bash >/dev/null # warm the page cache
for run in $(seq "$RUNS"); do
    for k in "${order[@]}"; do
        # shellcheck disable=SC2086
        measure "$k" repoman "$repo" query ${args[$k]}
    done
done
for k in "${order[@]}"; do
    # shellcheck disable=SC2086
    lines=$(repoman "$repo" query ${args[$k]} -f plain | wc -l)
    row "${label[$k]} at $items items" "$(ms "$(wall "$k")")" "-" "CPU $(ms "$(cpu "$k")"); $lines lines out" "-" "-"
done
echo "query: $items items (Debian bookworm main amd64), median of $RUNS runs; $(machine_line)"
print_table
