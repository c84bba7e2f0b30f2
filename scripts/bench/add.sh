#!/usr/bin/env bash
# add: throughput on many small packages, and memory on one large one.
#
#   small   BENCH_PACKAGES (default 1000) synthetic .deb files in one `add`,
#           into a fresh repository each run (BENCH_RUNS_ADD, default 3):
#           packages/s, and the peak RSS of that add; beside it the floor
#           of the same bytes copied durably (copy-floor.py: an fsync per
#           file, and one syncfs for all), and the same add under eatmydata
#           (fsync made a no-op), which shows what the syncs cost
#   large   one package of BIG_SIZE (default 2G) and one of SMALL_SIZE
#           (default 20M): peak RSS (`/usr/bin/time -v`) must not grow with
#           the file size; target < 64 MB. The packages hold a sparse data
#           file and are built with `dpkg-deb -Znone` (fast to build; the
#           .deb itself is full size on disk), in a temporary directory
#           removed afterwards. BENCH_RUNS_BIG runs each (default 3).
source "$(dirname "$0")/lib.sh"
need_repoman
need dpkg-deb dpkg
need eatmydata eatmydata
[ -x /usr/bin/time ] || need /usr/bin/time time

N=${BENCH_PACKAGES:-1000}
RUNS=${BENCH_RUNS_ADD:-3}
BIG_RUNS=${BENCH_RUNS_BIG:-3}
BIG_SIZE=${BIG_SIZE:-2G}
SMALL_SIZE=${SMALL_SIZE:-20M}

mapfile -t files < <(synthetic_debs "$N")

# rss_of OUTFILE CMD...: runs CMD under /usr/bin/time -v; prints "SECONDS KB".
rss_of() {
    local out=$1; shift
    /usr/bin/time -v -o "$out" "$@" >/dev/null 2>"$BENCH_LAST_ERR" \
        || { cat "$BENCH_LAST_ERR" "$out" >&2; die "failed: $*"; }
    awk -F': ' '/Maximum resident set size/ { kb = $2 }
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
        END { printf "%.3f %d\n", s, kb }' "$out"
}

# fresh_repo VAR: a new repository set up for bench/main/amd64, in VAR.
fresh_repo() {
    tmpdir "$1"
    repoman "${!1}" setup -d bench -c main -a amd64 >/dev/null 2>&1 \
        || { repoman "${!1}" setup -d bench -c main -a amd64; exit 1; }
}

# Small packages: times with `measure`, peak RSS in one more run.
# Side by side, the floor: the same files copied into a directory and made
# durable, with an fsync each and with one syncfs at the end.
floor=$BENCH_ROOT/scripts/bench/copy-floor.py
for run in $(seq "$RUNS"); do
    fresh_repo d
    measure small repoman "$d" add -d bench -c main "${files[@]}"
    fresh_repo n
    measure nosync eatmydata "$REPOMAN_BIN" --local-dir "$n" add -d bench -c main "${files[@]}"
    rm -rf "$n"
    measure floor-each python3 "$floor" each "$d/floor-each" "${files[@]}"
    measure floor-once python3 "$floor" once "$d/floor-once" "${files[@]}"
    rm -rf "$d"
done
fresh_repo d
read -r _ small_rss < <(rss_of "$d/time.txt" "$REPOMAN_BIN" --local-dir "$d" add -d bench -c main "${files[@]}")
rm -rf "$d"
log "add $N: wall${WALL[small]}; CPU${CPU[small]}; floor (fsync each):${WALL[floor-each]}; floor (syncfs once):${WALL[floor-once]}"

# big_deb DIR SIZE: builds a package with a sparse data file of SIZE; prints its path.
big_deb() {
    local dir=$1 size=$2 tree
    tree=$dir/tree-$size
    mkdir -p "$tree/DEBIAN" "$tree/usr/share/bench-big"
    truncate -s "$size" "$tree/usr/share/bench-big/data"
    printf 'Package: bench-big\nVersion: %s-1\nArchitecture: amd64\nMaintainer: Repoman Bench <bench@example.com>\nDescription: one large package\n' \
        "$(echo "$size" | tr -dc '0-9A-Za-z')" >"$tree/DEBIAN/control"
    dpkg-deb --root-owner-group -Znone --build "$tree" "$dir/bench-big-$size.deb" >/dev/null
    rm -rf "$tree"
    printf '%s\n' "$dir/bench-big-$size.deb"
}

declare -A big_t big_rss big_bytes
for size in "$SMALL_SIZE" "$BIG_SIZE"; do
    tmpdir w
    log "building a $size package"
    deb=$(big_deb "$w" "$size")
    big_bytes[$size]=$(stat -c %s "$deb")
    ts=() rs=()
    for run in $(seq "$BIG_RUNS"); do
        fresh_repo d
        read -r t kb < <(rss_of "$w/time.txt" "$REPOMAN_BIN" --local-dir "$d" add -d bench -c main "$deb")
        ts+=("$t") rs+=("$kb")
        rm -rf "$d"
    done
    big_t[$size]=$(median "${ts[@]}")
    big_rss[$size]=$(median "${rs[@]}")
    log "add $size: ${ts[*]} s; RSS ${rs[*]} KB"
    rm -rf "$w"
done

s=$(wall small)
fe=$(wall floor-each) fo=$(wall floor-once)
row "add $N small .deb (one command)" "$(secs "$s") (CPU $(secs "$(cpu small)"))" "-" \
    "$(calc "$N / $s") pkg/s; peak RSS $((small_rss / 1024)) MB" "-" "-"
row "add $N small .deb vs durable copy, fsync each" "$(secs "$s")" "$(secs "$fe")" "$(fmt2 "$s / $fe")x" "-" "-"
row "add $N small .deb vs durable copy, one syncfs" "$(secs "$s")" "$(secs "$fo")" "$(fmt2 "$s / $fo")x" "-" "-"
row "diagnostic: add $N under eatmydata (no fsync)" "$(secs "$(wall nosync)")" "$(secs "$s") with fsync" \
    "$(calc "$N / $(wall nosync)") pkg/s" "-" "-"
for size in "$SMALL_SIZE" "$BIG_SIZE"; do
    mb=$(awk -v b="${big_bytes[$size]}" 'BEGIN { printf "%.0f", b / 1e6 }')
    row "add one $size .deb: peak RSS" "$(calc "${big_rss[$size]} / 1024") MB" "-" \
        "$(secs "${big_t[$size]}"), $(calc "$mb / ${big_t[$size]}") MB/s" "< 64 MB" "$(verdict "${big_rss[$size]} < 65536")"
done
grow=$(fmt2 "${big_rss[$BIG_SIZE]} / ${big_rss[$SMALL_SIZE]}")
row "peak RSS, $BIG_SIZE vs $SMALL_SIZE package" "${grow}x" "-" "-" "no growth (< 1.25x)" "$(verdict "$grow < 1.25")"
echo "add: $N small packages (median of $RUNS runs); large packages (median of $BIG_RUNS runs); $(machine_line)"
print_table
