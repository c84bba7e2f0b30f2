#!/usr/bin/env bash
# Restore, publish, query and backup with the state in DynamoDB (moto's
# server, which also serves S3, SNS and STS): time, and DynamoDB requests
# per operation, counted from repoman's own debug log (one line per request
# sent, retries included; RUST_LOG=repoman::dynamodb=debug).
#
#   restore   N generated package items (one dist/comp, amd64 + all +
#             source) into a fresh table: past 100 items a command writes
#             item by item (UpdateItem, 16 in flight), so N writes
#   publish   one dist/comp: Queries on the by-dca index, one per
#             dist/comp/arch key (+1 for the `~` partition of items with
#             several values of a coordinate), each a page per 1 MB
#   query     `query -p NAME` (a Scan: the name alone pins no index key) and
#             `query -d -c -a` (index Queries)
#   backup    the whole table to a file
#
# BENCH_DDB_ITEMS items (default 63440, the size of Debian bookworm main
# amd64; moto holds everything in one Python process, so large N is slow:
# about 100 items/s restored on a 2-core machine).
# BENCH_RUNS_DDB runs (default 1). REPOMAN_BIN as in lib.sh (the debug build
# works too: REPOMAN_BIN=target/debug/repoman-cli; moto dominates).
source "$(dirname "$0")/lib.sh"
need_repoman
need curl curl
N=${BENCH_DDB_ITEMS:-63440}
RUNS=${BENCH_RUNS_DDB:-1}
python=$BENCH_ROOT/.venv/bin/python3
[ -x "$python" ] || python=python3
"$python" -c 'import moto' 2>/dev/null \
    || die "moto is missing: pip install 'moto[server]' (or run scripts/test.sh once for .venv)"

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
"$python" "$BENCH_ROOT/tests/aws/moto_server.py" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
curl -s -o /dev/null "http://127.0.0.1:$port/" || die "moto did not start: $(tail -3 "$work/moto.log")"
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export HOME=$work/home RUST_LOG=warn,repoman::dynamodb=debug
mkdir -p "$HOME"

# A backup of N items: binaries (amd64 and all, alternating) and every
# tenth a source package, with control texts of Debian's usual size.
"$python" - "$N" "$work/generated.json" <<'PY'
import hashlib, json, sys
n, out = int(sys.argv[1]), sys.argv[2]
packages = {}
for i in range(n):
    name = f"pkg{i:06d}"
    h = hashlib.sha256(name.encode()).hexdigest()
    if i % 10 == 9:
        arch = "source"
        item = {"files": [f"{name}_1.0-1.dsc", f"{name}_1.0.orig.tar.gz"]}
        control = (f"Format: 3.0 (quilt)\nSource: {name}\nBinary: {name}\nArchitecture: any\n"
                   f"Version: 1.0-1\nMaintainer: Bench <bench@example.com>\n")
    else:
        arch = "amd64" if i % 2 == 0 else "all"
        item = {"filename": f"{name}_1.0-1_{arch}.deb", "md5": h[:32], "sha1": h[:40],
                "sha256": h, "size": str(1000 + i)}
        control = (f"Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\n"
                   f"Maintainer: Bench <bench@example.com>\nInstalled-Size: 42\nSection: misc\n"
                   f"Priority: optional\nDescription: generated package {i}\n"
                   + " A package made up for the DynamoDB benchmark, with a description\n"
                   " about as long as a Debian package's usually is.\n" * 4)
    item.update({"name": name, "version": "1.0-1", "distribution": "bookworm",
                 "component": "main", "architecture": arch, "controltxt0": control})
    packages[name] = {"bookworm": {"main": {arch: [item]}}}
json.dump({"metadata": {"archs": ["amd64"], "comps": ["main"], "dists": ["bookworm"],
                        "origin": ["Bench"], "label": ["Bench"]},
           "packages": packages}, open(out, "w"))
PY

ddb() {
    local table=$1
    shift
    "$REPOMAN_BIN" --state "dynamodb:$table" --bucket s3://repoman-bench "$@" </dev/null
}
# counted LOG OP: requests of OP in a command's log; total LOG: all of them
# (colour codes stripped).
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
counted() { plain "$1" | grep -c "request op=\"\?$2\"\?\( \|$\)" || true; }
total() { plain "$1" | grep -c ' request op=' || true; }
# run_logged KEY LOG CMD...: measure, keeping the debug log (measure keeps
# a command's stderr in $BENCH_LAST_ERR).
run_logged() {
    local key=$1 logf=$2
    shift 2
    measure "$key" "$@"
    cp "$BENCH_LAST_ERR" "$logf"
}

for run in $(seq "$RUNS"); do
    table=bench$run
    ddb "$table" setup -d bookworm -c main -a amd64 >/dev/null 2>"$work/setup.log" \
        || { cat "$work/setup.log"; exit 1; }
    run_logged restore "$work/restore.log" ddb "$table" restore "$work/generated.json" -y
    run_logged publish "$work/publish.log" ddb "$table" publish
    run_logged query_name "$work/query-name.log" ddb "$table" query -p pkg000123
    run_logged query_dca "$work/query-dca.log" ddb "$table" query -d bookworm -c main -a amd64
    run_logged backup "$work/backup.log" ddb "$table" backup -o "$work/backup-$run.json"
    log "run $run: restore $(total "$work/restore.log") requests, publish $(total "$work/publish.log")"
done
"$python" - "$work/generated.json" "$work/backup-$RUNS.json" <<'PY' || die "the backup differs from what was restored"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if a["packages"] == b["packages"] else 1)
PY

# ops LOG: every operation's request count, e.g. "Query 3, GetItem 1".
ops() { plain "$1" | sed -n 's/.* request op="\?\([A-Za-z]*\)"\?.*/\1/p' | sort | uniq -c \
    | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " } END { print "" }'; }
writes=$(($(counted "$work/restore.log" UpdateItem) + $(counted "$work/restore.log" PutItem) + $(counted "$work/restore.log" TransactWriteItems)))
r=$(wall restore) p=$(wall publish) b=$(wall backup)
row "restore $N items into DynamoDB (moto)" "$(secs "$r")" "-" "$(calc "$N / $r") items/s" "-" "-"
row "restore: requests" "$(ops "$work/restore.log")" "N + 1 = $((N + 1)) writes" \
    "$writes writes" "one write per item" "$(verdict "$writes <= $N + 2")"
row "publish 1 dist/comp (amd64, all, source)" "$(secs "$p")" "-" "$(ops "$work/publish.log")" "no Scan" \
    "$(verdict "$(counted "$work/publish.log" Scan) == 0")"
row "query -p NAME" "$(secs "$(wall query_name)")" "-" "$(ops "$work/query-name.log")" "-" "-"
row "query -d -c -a" "$(secs "$(wall query_dca)")" "-" "$(ops "$work/query-dca.log")" "-" "-"
row "backup $N items" "$(secs "$b")" "-" "$(ops "$work/backup.log")" "-" "-"
echo "DynamoDB on moto: $N items, median of $RUNS run(s); request counts of the last run; $REPOMAN_BIN; $(machine_line)"
print_table
