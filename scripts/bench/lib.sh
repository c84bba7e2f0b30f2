# Shared helpers for the benchmark scripts (sourced, not run).
#
# Environment:
#   REPOMAN_BIN   the binary to measure (default target/release/repoman-cli,
#                 built with `cargo build --release --bins` when missing)
#   BENCH_CACHE   where inputs that are slow to make are kept between runs
#                 (Debian index, synthetic .deb files); default target/bench-cache
#   BENCH_RUNS    runs per figure of the quick benchmarks (publish-debian,
#                 query; default 5); the slower ones have their own
#                 BENCH_RUNS_* (default 3). Figures are medians.
#   BENCH_RESULTS when set, every result row is also appended to this file
#                 (tab-separated), for run-all.sh's combined table
#   KEEP_TMP=1    keep the temporary directories (for inspection)

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_CACHE=${BENCH_CACHE:-$BENCH_ROOT/target/bench-cache}
REPOMAN_BIN=${REPOMAN_BIN:-$BENCH_ROOT/target/release/repoman-cli}
mkdir -p "$BENCH_CACHE"

log() { printf '%s\n' "$*" >&2; }
die() { log "${0##*/}: $*"; exit 1; }

# need TOOL PACKAGE: installs PACKAGE with apt-get when TOOL is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2 (for $1)"
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$2" >/dev/null \
        || { "${sudo_cmd[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$2" >/dev/null; }
}

need_repoman() {
    if [ ! -x "$REPOMAN_BIN" ]; then
        log "building the release binaries (cargo build --release --bins)"
        (cd "$BENCH_ROOT" && cargo build --release --bins >&2)
    fi
}

# repoman DIR ARGS...: the CLI on the embedded backend in DIR, never prompting.
repoman() {
    local dir=$1; shift
    "$REPOMAN_BIN" --local-dir "$dir" "$@" </dev/null
}

# tmpdir VAR: a fresh temporary directory, removed on exit unless KEEP_TMP=1.
BENCH_TMPS=()
cleanup_tmps() {
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        ((${#BENCH_TMPS[@]})) && log "kept: ${BENCH_TMPS[*]}"
        return 0
    fi
    local d
    for d in "${BENCH_TMPS[@]+"${BENCH_TMPS[@]}"}"; do rm -rf "$d"; done
}
trap cleanup_tmps EXIT
tmpdir() {
    local __tmp
    __tmp=$(mktemp -d "${TMPDIR:-/tmp}/repoman-bench.XXXXXX")
    BENCH_TMPS+=("$__tmp")
    printf -v "$1" '%s' "$__tmp"
}

now() { date +%s.%N; }

# measure KEY CMD...: runs CMD (output discarded) and appends its wall time
# to WALL[KEY] and its CPU time (user + system, children included) to
# CPU[KEY], in seconds, space-separated. CPU time is the steadier figure on a
# busy machine; wall time is what a user waits. A failing command aborts the
# benchmark: a fast failure is not a figure.
declare -gA WALL=() CPU=()
BENCH_LAST_ERR=$(mktemp "${TMPDIR:-/tmp}/repoman-bench-err.XXXXXX")
BENCH_TIMES=$(mktemp "${TMPDIR:-/tmp}/repoman-bench-time.XXXXXX")
BENCH_TMPS+=("$BENCH_LAST_ERR" "$BENCH_TIMES")
measure() {
    local key=$1 w u s TIMEFORMAT='%3R %3U %3S'
    shift
    if ! { time "$@" >/dev/null 2>"$BENCH_LAST_ERR"; } 2>"$BENCH_TIMES"; then
        log "failed: $*"
        cat "$BENCH_LAST_ERR" >&2
        exit 1
    fi
    read -r w u s <"$BENCH_TIMES"
    WALL[$key]+=" $w"
    CPU[$key]+=" $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')"
}
# wall KEY / cpu KEY: the median of the times measured under KEY.
# shellcheck disable=SC2086
wall() { median ${WALL[$1]}; }
# shellcheck disable=SC2086
cpu() { median ${CPU[$1]}; }

# median X...: the median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# calc EXPR: floating-point arithmetic (awk), printed with 3 significant
# digits (whole numbers from 100 up).
calc() { awk "BEGIN { v = $1; if (v >= 100 || v <= -100) printf \"%.0f\n\", v; else printf \"%.3g\n\", v }"; }
# fmt2 EXPR: the same with 2 decimals.
fmt2() { awk "BEGIN { printf \"%.2f\n\", $1 }"; }
# secs EXPR: seconds for a table: 2 decimals, 3 below one second.
secs() { awk "BEGIN { v = $1; if (v < 1) printf \"%.3f s\n\", v; else printf \"%.2f s\n\", v }"; }
# ms EXPR: seconds as milliseconds, 1 decimal.
ms() { awk "BEGIN { printf \"%.1f ms\n\", ($1) * 1000 }"; }

# Result rows: benchmark, our figure, reference figure (or -), ratio or
# derived figure, target, verdict. Printed as a table at the end of a script
# and appended to $BENCH_RESULTS for run-all.sh.
BENCH_ROWS=()
row() {
    local line
    line=$(printf '%s\t' "$@")
    line=${line%$'\t'}
    BENCH_ROWS+=("$line")
    if [ -n "${BENCH_RESULTS:-}" ]; then printf '%s\n' "$line" >>"$BENCH_RESULTS"; fi
}
# verdict OK_EXPR: "met" when the awk expression is true, else "MISSED".
verdict() { awk "BEGIN { exit !($1) }" && echo met || echo MISSED; }

print_table() {
    {
        printf 'benchmark\tours\treference\tratio / rate\ttarget\tverdict\n'
        printf '%s\n' "${BENCH_ROWS[@]+"${BENCH_ROWS[@]}"}"
    } | table
}
# table: tab-separated lines on stdin as a Markdown table.
table() {
    awk -F'\t' '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
          if (NF > nf) nf = NF }
        END {
            for (r = 1; r <= NR; r++) {
                line = "|"
                for (i = 1; i <= nf; i++) line = line sprintf(" %-*s |", w[i], cell[r, i])
                print line
                if (r == 1) { line = "|"; for (i = 1; i <= nf; i++) { s = ""; for (k = 0; k < w[i] + 2; k++) s = s "-"; line = line s "|" } print line }
            }
        }'
}

machine_line() {
    printf '%s, %s cores, %s, %s\n' "$(uname -m)" "$(nproc)" \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(awk '/MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)"
}

# full_publish DIR: a publish of every index of the repository in DIR, as a
# first publish does: the published Releases are removed first, so nothing
# of them is reused (by-hash files already there are not written again).
full_publish() {
    rm -f "$1"/bucket/dists/*/Release
    repoman "$1" publish
}

# --- Inputs -----------------------------------------------------------------

# debian_index: prints the path of the uncompressed Debian bookworm main amd64
# Packages index, fetched once with an isolated apt state (the machine's apt
# configuration is untouched) and kept in the cache.
debian_index() {
    local out=$BENCH_CACHE/bookworm-main-amd64-Packages
    if [ ! -s "$out" ]; then
        need lz4 lz4
        local T
        tmpdir T
        mkdir -p "$T/lists/partial" "$T/cache/archives/partial"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" >"$T/sources.list"
        log "fetching the Debian bookworm main amd64 index (apt-get update, isolated)"
        apt-get -o "Dir::Etc::SourceList=$T/sources.list" -o Dir::Etc::SourceParts=/dev/null \
            -o "Dir::State::Lists=$T/lists" -o "Dir::Cache=$T/cache" -o Debug::NoLocking=1 \
            -o APT::Sandbox::User=root -o APT::Architecture=amd64 \
            -o 'APT::Architectures::=amd64' -o 'Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false' \
            -qq update >&2
        local f
        f=$(find "$T/lists" -name '*_bookworm_main_binary-amd64_Packages*' | head -1)
        [ -n "$f" ] || die "apt-get update produced no bookworm main amd64 Packages index"
        case $f in
            *.lz4) lz4 -dc "$f" >"$out.tmp" ;;
            *.gz) gzip -dc "$f" >"$out.tmp" ;;
            *.xz) xz -dc "$f" >"$out.tmp" ;;
            *) cp "$f" "$out.tmp" ;;
        esac
        mv "$out.tmp" "$out"
    fi
    printf '%s\n' "$out"
}

# debian_backup: prints the path of a backup file holding every stanza of the
# Debian index as an item of bookworm/main (see packages-to-backup.py); made
# once and kept in the cache.
debian_backup() {
    local index out conv
    index=$(debian_index)
    out=$BENCH_CACHE/bookworm-main-amd64-backup.json
    conv=$BENCH_ROOT/scripts/bench/packages-to-backup.py
    if [ ! -s "$out" ] || [ "$out" -ot "$index" ] || [ "$out" -ot "$conv" ]; then
        log "turning the Debian index into a backup file"
        python3 "$conv" "$index" bookworm main "$out.tmp" >/dev/null
        mv "$out.tmp" "$out"
    fi
    printf '%s\n' "$out"
}
debian_backup_items() { grep -c '^Package: ' "$(debian_index)"; }

# debian_store DIR: an embedded repository in DIR holding the Debian items.
debian_store() {
    repoman "$1" restore "$(debian_backup)" >/dev/null 2>"$BENCH_LAST_ERR" \
        || { cat "$BENCH_LAST_ERR" >&2; die "restore of the Debian backup failed"; }
}

# synthetic_debs N: prints the paths of N small synthetic .deb files (built
# once by make-debs.sh into the cache, which keeps every file built so far).
synthetic_debs() {
    local n=$1 dir=$BENCH_CACHE/debs have
    need dpkg-deb dpkg
    mkdir -p "$dir" # find fails on a missing directory, and pipefail with it
    have=$(find "$dir" -name 'bench-pkg-*.deb' 2>/dev/null | wc -l)
    if [ "$have" -lt "$n" ]; then
        log "building $n synthetic packages into $dir (once)"
        "$BENCH_ROOT/scripts/bench/make-debs.sh" "$n" "$dir"
    fi
    find "$dir" -name 'bench-pkg-*.deb' | sort | head -n "$n"
}
