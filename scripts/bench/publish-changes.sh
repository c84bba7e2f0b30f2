#!/usr/bin/env bash
# Publishing only what changed: a publish with nothing to write, and one
# after a single package changed, against a full publish of the same
# repository (every index built, gzipped and written, as a first publish
# does: `full_publish` in lib.sh), interleaved run by run.
#
#   unchanged   the Debian bookworm main amd64 repository (63,440 items,
#               one index; see publish-debian.sh), published again with no
#               change: it must write nothing (and, by the store's change
#               stamp, reads no package)
#   one change  a synthetic repository of 2 distributions x 2 components x
#               (2 architectures + source) = 12 indices (gen-backup.py,
#               BENCH_ITEMS_12 items, default 20000): one package copied into
#               another component (cp), then removed again (rm), each change
#               followed by a timed publish that must rewrite exactly one index
#
# Targets: unchanged <= 10% of a full publish; one change <= 25% of a full
# publish of the 12-index repository. BENCH_RUNS runs (default 5), medians.
source "$(dirname "$0")/lib.sh"
need_repoman

RUNS=${BENCH_RUNS:-5}
N12=${BENCH_ITEMS_12:-20000}

# json_field JSON KEY: a field of the first distribution in publish -f json.
json_field() { python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])[0][sys.argv[2]]))' "$1" "$2"; }

# --- Unchanged, Debian scale -------------------------------------------------
tmpdir deb
debian_store "$deb"
items=$(debian_backup_items)
repoman "$deb" publish >/dev/null 2>&1
for run in $(seq "$RUNS"); do
    measure full full_publish "$deb"
    measure same repoman "$deb" publish
done
out=$(repoman "$deb" publish -f json 2>/dev/null)
[ "$(json_field "$out" changed)" = false ] || die "an unchanged publish wrote something: $out"
log "unchanged: ${WALL[same]} s; full: ${WALL[full]} s"

# --- One change in a 12-index repository --------------------------------------
tmpdir r12
python3 "$BENCH_ROOT/scripts/bench/gen-backup.py" "$N12" >"$r12/backup.json"
repoman "$r12" restore "$r12/backup.json" >/dev/null 2>&1
repoman "$r12" publish >/dev/null 2>&1
indices=$(find "$r12/bucket/dists" -name Packages -o -name Sources | grep -vc by-hash)
[ "$indices" -eq 12 ] || die "the synthetic repository has $indices indices, not 12"
# pkg00000 1.0-1 amd64 is in stable/main; stable/contrib has only its `all`.
change() {
    if [ "$1" = add ]; then
        repoman "$r12" cp -p pkg00000 -a amd64 --src-distribution stable --src-component main \
            --dst-component contrib -y
    else
        repoman "$r12" rm -p pkg00000 -d stable -c contrib -a amd64 -y
    fi
}
for run in $(seq "$RUNS"); do
    measure full12 full_publish "$r12"
    for what in add remove; do
        change "$what" >/dev/null 2>&1 || die "cp/rm of pkg00000 failed"
        measure one12 repoman "$r12" publish
    done
done
change add >/dev/null 2>&1
out=$(repoman "$r12" publish -f json 2>/dev/null)
[ "$(json_field "$out" indices_rewritten)" = '["contrib/binary-amd64/Packages"]' ] \
    || die "one change rewrote other indices: $out"
log "one change: ${WALL[one12]} s; full: ${WALL[full12]} s"

f=$(wall full) s=$(wall same) f12=$(wall full12) o12=$(wall one12)
row "publish $items items, nothing changed: vs a full publish" "$(secs "$s") (CPU $(secs "$(cpu same)"))" \
    "$(secs "$f") (CPU $(secs "$(cpu full)"))" "$(fmt2 "100 * $s / $f")%" "<= 10%" "$(verdict "$s <= 0.10 * $f")"
row "publish after one change, 12 indices, $N12 items: vs a full publish" "$(secs "$o12") (CPU $(secs "$(cpu one12)"))" \
    "$(secs "$f12") (CPU $(secs "$(cpu full12)"))" "$(fmt2 "100 * $o12 / $f12")%" "<= 25%" "$(verdict "$o12 <= 0.25 * $f12")"
echo "publish only what changed: medians of $RUNS runs (one change: $((2 * RUNS))); $(machine_line)"
print_table
