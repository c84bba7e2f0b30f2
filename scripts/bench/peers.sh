#!/usr/bin/env bash
# repoman against aptly and reprepro: the same synthetic .deb files added and
# published by each tool, side by side in every run (each run interleaves the
# three tools, so machine noise hits them alike), each in a fresh directory.
#
#   add (one invocation)    every file in a single command, the natural CI use
#   publish                 the dists/ tree for those packages, unsigned
#   add (one per file)      BENCH_PER_FILE files, one command each
#
# Like-for-like settings: every tool writes Packages and Packages.gz for one
# distribution, component and architecture and no signature; aptly runs with
# -skip-contents -skip-bz2 (repoman and reprepro write neither Contents nor
# .bz2); reprepro adds with --export=never so its add and export are timed
# separately, and with -S misc -P optional (the packages have no Section or
# Priority, which reprepro requires).
#
# Diagnostic: repoman's add and publish once more under eatmydata (fsync(2)
# made a no-op by LD_PRELOAD), to show what durability costs on this disk:
# repoman syncs every file it writes before it records it, aptly syncs
# nothing, reprepro syncs its databases.
#
#   peers.sh              BENCH_PACKAGES (default 2000), BENCH_PER_FILE (100),
#                         BENCH_RUNS_PEERS (default 3) runs; medians reported
source "$(dirname "$0")/lib.sh"

N=${BENCH_PACKAGES:-2000}
PER_FILE=${BENCH_PER_FILE:-100}
RUNS=${BENCH_RUNS_PEERS:-3}
need_repoman
need aptly aptly
need reprepro reprepro
need eatmydata eatmydata

mapfile -t files < <(synthetic_debs "$N")
per_file=("${files[@]:0:$PER_FILE}")

# Each tool: setup_T DIR, add_T DIR FILES..., publish_T DIR.
setup_repoman() { repoman "$1/repo" setup -d bench -c main -a amd64; }
add_repoman() { local d=$1; shift; repoman "$d/repo" add -d bench -c main "$@"; }
publish_repoman() { repoman "$1/repo" publish; }

setup_nosync() { setup_repoman "$@"; }
add_nosync() {
    local d=$1
    shift
    eatmydata "$REPOMAN_BIN" --local-dir "$d/repo" add -d bench -c main "$@" </dev/null
}
publish_nosync() { eatmydata "$REPOMAN_BIN" --local-dir "$1/repo" publish </dev/null; }

aptly_cmd() { local d=$1; shift; aptly -config="$d/aptly.conf" "$@"; }
setup_aptly() {
    printf '{"rootDir": "%s/aptly", "architectures": ["amd64"]}\n' "$1" >"$1/aptly.conf"
    aptly_cmd "$1" repo create -distribution=bench -component=main bench
}
add_aptly() { local d=$1; shift; aptly_cmd "$d" repo add bench "$@"; }
publish_aptly() {
    aptly_cmd "$1" publish repo -skip-signing -skip-contents -skip-bz2 -architectures=amd64 bench
}

setup_reprepro() {
    mkdir -p "$1/reprepro/conf"
    printf 'Codename: bench\nComponents: main\nArchitectures: amd64\n' >"$1/reprepro/conf/distributions"
}
add_reprepro() {
    local d=$1; shift
    reprepro -b "$d/reprepro" --export=never -S misc -P optional includedeb bench "$@"
}
publish_reprepro() { reprepro -b "$1/reprepro" export bench; }

# per_file_add TOOL DIR: one add command per file of the per-file subset.
per_file_add() {
    local tool=$1 d=$2 f
    for f in "${per_file[@]}"; do "add_$tool" "$d" "$f"; done
}

tools=(repoman aptly reprepro)
for run in $(seq "$RUNS"); do
    for tool in "${tools[@]}" nosync; do
        tmpdir d
        "setup_$tool" "$d" >/dev/null 2>&1 || { log "setup of $tool failed"; "setup_$tool" "$d"; exit 1; }
        measure "add:$tool" "add_$tool" "$d" "${files[@]}"
        measure "publish:$tool" "publish_$tool" "$d"
        if [ "$tool" != nosync ]; then
            tmpdir p
            "setup_$tool" "$p" >/dev/null 2>&1
            measure "perfile:$tool" per_file_add "$tool" "$p"
            rm -rf "$p"
        fi
        rm -rf "$d"
    done
    log "run $run/$RUNS done"
done
for k in "${!WALL[@]}"; do log "$k: wall${WALL[$k]}; CPU${CPU[$k]}"; done

for peer in aptly reprepro; do
    r=$(wall add:repoman) p=$(wall "add:$peer")
    row "add $N .deb, one command: vs $peer" "$(secs "$r") ($(calc "$N / $r") pkg/s)" \
        "$(secs "$p") ($(calc "$N / $p") pkg/s)" "$(fmt2 "$r / $p")x" "< 1x" "$(verdict "$r < $p")"
done
for peer in aptly reprepro; do
    r=$(wall publish:repoman) p=$(wall "publish:$peer")
    row "publish $N packages: vs $peer" "$(secs "$r")" "$(secs "$p")" "$(fmt2 "$r / $p")x" "< 1x" "$(verdict "$r < $p")"
done
for peer in aptly reprepro; do
    r=$(wall perfile:repoman) p=$(wall "perfile:$peer")
    row "add $PER_FILE .deb, one command each: vs $peer" "$(ms "$r / $PER_FILE")/file" \
        "$(ms "$p / $PER_FILE")/file" "$(fmt2 "$r / $p")x" "< 1x" "$(verdict "$r < $p")"
done
for tool in "${tools[@]}"; do
    row "CPU time, $tool: add $N / publish / add one each" "$(secs "$(cpu "add:$tool")") / $(secs "$(cpu "publish:$tool")") / $(ms "$(cpu "perfile:$tool") / $PER_FILE")/file" "-" "-" "-" "-"
done
row "diagnostic: repoman add $N under eatmydata (no fsync)" "$(secs "$(wall add:nosync)")" "$(secs "$(wall add:repoman)") with fsync" \
    "$(fmt2 "$(wall add:nosync) / $(wall add:aptly)")x aptly" "-" "-"
row "diagnostic: repoman publish under eatmydata (no fsync)" "$(secs "$(wall publish:nosync)")" "$(secs "$(wall publish:repoman)") with fsync" \
    "$(fmt2 "$(wall publish:nosync) / $(wall publish:reprepro)")x reprepro" "-" "-"
echo "peers: $N packages, medians of $RUNS runs (wall time unless marked CPU); $(machine_line)"
print_table
