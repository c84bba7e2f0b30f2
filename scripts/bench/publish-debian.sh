#!/usr/bin/env bash
# Publish at Debian scale: a repository shaped like Debian bookworm main amd64
# (the real Packages index, ~63k stanzas), loaded into the embedded store with
# `restore`, then published; compared with the physical floor of the same
# work done by the standard tools on the same index bytes.
#
#   restore   the index turned into a backup file (packages-to-backup.py),
#             restored into an empty repository (BENCH_RUNS_RESTORE runs,
#             default 3, each into a fresh directory)
#   publish   a full `repoman-cli publish` of that repository, unsigned
#             (BENCH_RUNS runs, default 5): its published Release is removed
#             first, so every index is built, gzipped and written as on a
#             first publish (by-hash files already there are not written
#             again, as before publishing only what changed)
#   floor     `gzip -6` plus `sha256sum` of the Packages file publish wrote
#             (the bytes are the same, so the work is the same): the least a
#             publish must do besides reading the items
#
# Target: publish within 2x the floor (wall time). CPU time is reported too:
# it is the steadier figure when the machine is busy.
source "$(dirname "$0")/lib.sh"
need_repoman
need gzip gzip

RUNS=${BENCH_RUNS:-5}
RESTORE_RUNS=${BENCH_RUNS_RESTORE:-3}

backup=$(debian_backup)
items=$(debian_backup_items)

# Restore: every item new.
for run in $(seq "$RESTORE_RUNS"); do
    tmpdir r
    measure restore repoman "$r" restore "$backup"
    if [ "$run" -lt "$RESTORE_RUNS" ]; then rm -rf "$r"; fi
done
repo=$r
log "restore: ${WALL[restore]} s wall;${CPU[restore]} s CPU"

# Publish, and the floor on the index it wrote, alternating so that both see
# the same machine state. The floor's two tools run one after the other
# (their times add up); publish may use both cores.
packages=$repo/bucket/dists/bookworm/main/binary-amd64/Packages
gzip6() { gzip -6 -c "$1" >/dev/null; }
floor() { gzip6 "$1" && sha256sum "$1"; }
for run in $(seq "$RUNS"); do
    measure publish full_publish "$repo"
    [ -s "$packages" ] || die "publish wrote no $packages"
    measure floor floor "$packages"
    measure gzip gzip6 "$packages"
    measure sha256sum sha256sum "$packages"
done
log "publish: ${WALL[publish]} s wall;${CPU[publish]} s CPU; floor: ${WALL[floor]} s wall;${CPU[floor]} s CPU"

# The published index must hold every item.
stanzas=$(grep -c '^Package: ' "$packages")
[ "$stanzas" -eq "$items" ] || die "published $stanzas stanzas, expected $items"
rm -f "$repo"/bucket/dists/*/Release
rss=$(/usr/bin/time -f %M "$REPOMAN_BIN" --local-dir "$repo" publish 2>&1 >/dev/null | tail -1)

mb=$(awk -v b="$(stat -c %s "$packages")" 'BEGIN { printf "%.1f", b / 1e6 }')
rs=$(wall restore) ps=$(wall publish) fs=$(wall floor)
pc=$(cpu publish) fc=$(cpu floor)
row "restore $items Debian items (embedded)" "$(secs "$rs") (CPU $(secs "$(cpu restore)"))" "-" \
    "$(calc "$items / $rs") items/s" "-" "-"
row "publish $items items ($mb MB Packages), wall" "$(secs "$ps")" \
    "$(secs "$fs") (gzip -6 $(secs "$(wall gzip)") + sha256sum $(secs "$(wall sha256sum)"))" \
    "$(fmt2 "$ps / $fs")x floor; $(calc "$mb / $ps") MB/s" "<= 2x floor" "$(verdict "$ps <= 2 * $fs")"
row "publish $items items, CPU time" "$(secs "$pc")" "$(secs "$fc")" "$(fmt2 "$pc / $fc")x floor" "-" "-"
row "publish $items items, peak RSS" "$((rss / 1024)) MB" "-" "-" "-" "-"
echo "publish at Debian scale: bookworm main amd64, $items items, $mb MB index; restore median of $RESTORE_RUNS, publish of $RUNS; $(machine_line)"
print_table
