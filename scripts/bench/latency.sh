#!/usr/bin/env bash
# repoman against the original apt-repoman 1.0.7 on servers that answer
# every request after a fixed delay, as AWS does from a distance: what a
# user waits for, how many requests each operation sends, and how many of
# them had to wait for one another.
#
#   scripts/bench/latency.sh                 # 20 ms per request
#   LATENCY_MS=50 scripts/bench/latency.sh
#
# Servers (all on loopback, all delayed by LATENCY_MS before each request):
#   S3, SNS, STS, DynamoDB   moto's server behind latency-moto.py (a WSGI
#                            middleware: sleep, then moto; logs each request)
#   SimpleDB                 sdb-local --latency-ms (--request-log)
# Both tools run side by side on the same servers, each on its own domain
# and bucket, with an SNS topic (every change announced), the same
# configuration: 2 distributions x 3 components x amd64 + arm64.
#   add       100 synthetic .deb files (make-debs.sh) in one command, into
#             both distributions, one component: 200 items, 200 pool files
#   publish   every distribution, unsigned
#   backup    the state to a local file
#   restore   that file into a fresh, set-up domain
# and the same four with repoman's state in DynamoDB (moto).
#
# For each command: wall time, requests per service (from the servers'
# logs), and the longest chain of sequential round trips: the largest set of
# its requests no two of which were in flight at once (latency-report.py).
# Each of those waited LATENCY_MS, one after the other, so chain x delay is
# the least time the command spent waiting for answers.
#
# The original is installed from PyPI (apt-repoman 1.0.7 and the pinned
# dependencies it still works with, plus two shims for Python 3.11) into
# $BENCH_CACHE/apt-repoman-1.0.7, unless ORIGINAL_REPOMAN names its
# repoman-cli. It runs with --skip-checkup (its checkup adds requests before
# every command; repoman has none to skip). Needs python3 with venv, and
# moto (the project's .venv: scripts/test.sh makes it).
#
# LATENCY_MS (default 20), LATENCY_PACKAGES (default 100). REPOMAN_BIN as in
# lib.sh (the release build; sdb-local beside it).
source "$(dirname "$0")/lib.sh"
need_repoman
need curl curl
DELAY=${LATENCY_MS:-20}
NPKG=${LATENCY_PACKAGES:-100}
here=$(cd "$(dirname "$0")" && pwd)
SDB_LOCAL=${SDB_LOCAL:-$(dirname "$REPOMAN_BIN")/sdb-local}
[ -x "$SDB_LOCAL" ] || die "$SDB_LOCAL is missing: cargo build --release --bins"
python=$BENCH_ROOT/.venv/bin/python3
[ -x "$python" ] || python=python3
"$python" -c 'import moto' 2>/dev/null \
    || die "moto is missing: pip install 'moto[server]' (or run scripts/test.sh once for .venv)"

# install_original: apt-repoman 1.0.7 from PyPI into a venv in the cache.
# Its dependency pins no longer install (pydpkg 1.3.3 pins PGPy 0.4.1 and
# backports.lzma): pydpkg without its pins, the standard library's lzma
# under the backports name, and the collections ABCs and argparse
# behaviour it expects from older Pythons.
install_original() {
    local v=$BENCH_CACHE/apt-repoman-1.0.7
    if [ -x "$v/bin/repoman-cli" ] && "$v/bin/repoman-cli" --help >/dev/null 2>&1; then
        echo "$v/bin/repoman-cli"
        return
    fi
    log "installing apt-repoman 1.0.7 from PyPI into $v"
    rm -rf "$v"
    python3 -m venv "$v" >&2
    "$v/bin/pip" install -q --no-deps apt-repoman==1.0.7 pydpkg==1.3.3 >&2
    "$v/bin/pip" install -q boto3 "PGPy==0.5.2" "cryptography<38" "configargparse==0.12.0" \
        ansicolors "tabulate==0.7.7" "pysectools==0.4.2" arpy six setuptools >&2
    local sp
    sp=$("$v/bin/python" -c 'import site; print(site.getsitepackages()[0])')
    mkdir -p "$sp/backports"
    : >"$sp/backports/__init__.py"
    echo "from lzma import *" >"$sp/backports/lzma.py"
    cat >"$sp/sitecustomize.py" <<'PY'
# Python 3.10 moved these ABCs; apt-repoman still imports them from collections.
import collections, collections.abc
for _n in ("Sequence", "Set", "Mapping", "MutableMapping", "Iterable", "Callable"):
    if not hasattr(collections, _n):
        setattr(collections, _n, getattr(collections.abc, _n))
# Python 3.11's argparse refuses apt-repoman's duplicate 'show-config' subparser.
import argparse as _ap
_orig = _ap._SubParsersAction.add_parser
def _add_parser(self, name, **kw):
    return self._name_parser_map[name] if name in self._name_parser_map else _orig(self, name, **kw)
_ap._SubParsersAction.add_parser = _add_parser
PY
    "$v/bin/repoman-cli" --help >/dev/null || die "apt-repoman 1.0.7 does not run in $v"
    echo "$v/bin/repoman-cli"
}
ORIGINAL=${ORIGINAL_REPOMAN:-$(install_original)}

tmpdir work
pids=()
stop_servers() {
    local p
    for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
    cleanup_tmps
}
trap stop_servers EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" "$here/latency-moto.py" -H 127.0.0.1 -p "$port" --delay-ms "$DELAY" \
    --log "$work/moto-requests.jsonl" >"$work/moto.log" 2>&1 &
pids+=($!)
# Threads: the most requests sdb-local serves at once, each sleeping the
# delay; SimpleDB itself has no such bound.
"$SDB_LOCAL" --port 0 --latency-ms "$DELAY" --threads 64 \
    --request-log "$work/sdb-requests.jsonl" >"$work/sdb.out" 2>"$work/sdb.err" &
pids+=($!)
sdb_url=
for _ in $(seq 300); do
    sdb_url=$(sed -n 's/^listening on //p' "$work/sdb.out" 2>/dev/null || true)
    if [ -n "$sdb_url" ] && curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    sleep 0.2
done
[ -n "$sdb_url" ] || die "sdb-local did not start: $(cat "$work/sdb.err")"
curl -s -o /dev/null "http://127.0.0.1:$port/" || die "moto did not start: $(tail -3 "$work/moto.log")"
moto_url=http://127.0.0.1:$port
export AWS_ENDPOINT_URL_SIMPLEDB=$sdb_url
export AWS_ENDPOINT_URL_S3=$moto_url AWS_ENDPOINT_URL_SNS=$moto_url AWS_ENDPOINT_URL_STS=$moto_url
export AWS_ENDPOINT_URL_DYNAMODB=$moto_url
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export HOME=$work/home
mkdir -p "$HOME"

mapfile -t debs < <(synthetic_debs "$NPKG")
config=(-d bookworm -d trixie -c main -c contrib -c non-free -a amd64 -a arm64)

# The three setups under test: the original and repoman on SimpleDB, repoman
# on DynamoDB; each with its own state, bucket and topic.
original() { "$ORIGINAL" --simpledb-domain "original-$1" --s3-bucket original-bench --skip-checkup "${@:2}" </dev/null; }
repoman_sdb() { "$REPOMAN_BIN" --simpledb-domain "repoman-$1" --s3-bucket repoman-bench "${@:2}" </dev/null; }
repoman_ddb() { "$REPOMAN_BIN" --state "dynamodb:repoman-$1" --bucket s3://repoman-ddb-bench "${@:2}" </dev/null; }
tools=(original repoman repoman-dynamodb)
run_tool() {
    local tool=$1
    shift
    case $tool in
        original) original "$@" ;;
        repoman) repoman_sdb "$@" ;;
        repoman-dynamodb) repoman_ddb "$@" ;;
    esac
}

# timed TOOL OP CMD...: runs CMD, records its start and end in ops.tsv; a
# failure stops the benchmark.
timed() {
    local tool=$1 op=$2 t0 t1
    shift 2
    t0=$(now)
    if ! "$@" >"$work/out" 2>"$work/err"; then
        log "failed: $tool $op"
        tail -20 "$work/err" >&2
        exit 1
    fi
    t1=$(now)
    printf '%s\t%s\t%s\t%s\n' "$tool" "$op" "$t0" "$t1" >>"$work/ops.tsv"
    log "$tool $op: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
}

# The original's setup takes boto3's answer for a missing bucket (recent
# boto3 no longer raises there) as "exists" and never creates it.
"$python" -c 'import boto3, sys; boto3.client("s3").create_bucket(Bucket=sys.argv[1])' original-bench
for tool in "${tools[@]}"; do
    for state in state restored; do
        run_tool "$tool" "$state" setup "${config[@]}" --sns-topic "bench-$tool" \
            >"$work/setup.out" 2>&1 || { cat "$work/setup.out" >&2; die "setup of $tool failed"; }
    done
done

for tool in "${tools[@]}"; do
    timed "$tool" "add $NPKG packages (2 dists, 1 comp)" \
        run_tool "$tool" state add -d bookworm -d trixie -c main "${debs[@]}"
done
for tool in "${tools[@]}"; do
    timed "$tool" "publish 2 dists x 3 comps x 2 archs" run_tool "$tool" state publish
done
for tool in "${tools[@]}"; do
    if [ "$tool" = original ]; then
        # The original prints the backup on standard output.
        timed "$tool" "backup" run_tool "$tool" state backup
        cp "$work/out" "$work/backup-$tool.json"
    else
        timed "$tool" "backup" run_tool "$tool" state backup -o "$work/backup-$tool.json"
    fi
done
for tool in "${tools[@]}"; do
    if [ "$tool" = original ]; then
        timed "$tool" "restore" run_tool "$tool" restored restore "$work/backup-$tool.json"
    else
        timed "$tool" "restore" run_tool "$tool" restored restore "$work/backup-$tool.json" -y
    fi
done

# Every backup holds the items added, and the same ones.
"$python" - "$((NPKG * 2))" "$work"/backup-*.json <<'PY' || die "the backups differ"
import json, sys
want, paths = int(sys.argv[1]), sys.argv[2:]
seen = {}
for p in paths:
    d = json.load(open(p))
    items = sorted((i["name"], i["version"], i["distribution"], i["component"], i["architecture"])
                   for n in d["packages"].values() for ds in n.values() for c in ds.values()
                   for l in c.values() for i in l)
    if len(items) != want:
        sys.exit(f"{p}: {len(items)} items, expected {want}")
    seen[p] = items
if len({tuple(v) for v in seen.values()}) != 1:
    sys.exit("the backups hold different items")
PY

echo "Latency benchmark: every request delayed ${DELAY} ms (S3, SNS, STS, DynamoDB: moto; SimpleDB: sdb-local);" \
    "$NPKG packages; $(date -u +%Y-%m-%d), $(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo unknown); $(machine_line)"
echo
"$python" "$here/latency-report.py" "$DELAY" "$work/ops.tsv" "$work/moto-requests.jsonl" "$work/sdb-requests.jsonl"
