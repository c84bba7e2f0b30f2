#!/usr/bin/env bash
# Backup and restore at Debian scale on the AWS backend, against sdb-local
# (SimpleDB, on SQLite) and moto (S3, SNS, STS): throughput and the number of
# SimpleDB requests per operation, read from sdb-local's GET /__stats.
#
#   restore   the Debian-shaped backup (see publish-debian.sh) into an empty
#             domain; target: at most ceil(N/25) + a constant write requests
#             (BatchPutAttributes carries 25 items, SimpleDB's maximum)
#   backup    the whole domain to a file (-o)
#   publish   the distribution; target: at most ceil(N/2500) + a constant
#             Selects per dist/comp (a Select page holds 2500 items at most)
#
# SimpleDB also caps a BatchPutAttributes request at 1 MB (repoman packs 900
# KB at most) and a Select answer at 1 MB: with Debian's control texts (about
# 1 KB an item) the size caps, not the item counts, set the least number of
# requests. The script computes both floors from the backup: for writes
# ceil(N/25) and ceil(bytes/900 KB), for a full read ceil(N/2500) and
# ceil(answer bytes/1 MB), the answer bytes counted as sdb-local counts them.
#
# sdb-local keeps its domains in memory (SDB_DB=file: in a SQLite file, which
# adds sdb-local's own commits and WAL checkpoints to every request), so the
# times measure repoman's side and the protocol more than the server.
#
# BENCH_RUNS_SDB runs (default 3), each into a fresh domain. Needs the
# release build with the AWS feature (the default) and moto_server
# (`pip install 'moto[server]'`, or the project's .venv from scripts/test.sh).
source "$(dirname "$0")/lib.sh"
need_repoman
need curl curl
RUNS=${BENCH_RUNS_SDB:-3}
SDB_LOCAL=${SDB_LOCAL:-$(dirname "$REPOMAN_BIN")/sdb-local}
[ -x "$SDB_LOCAL" ] || die "$SDB_LOCAL is missing: cargo build --release --bins"
moto=$BENCH_ROOT/.venv/bin/moto_server
[ -x "$moto" ] || moto=$(command -v moto_server) \
    || die "moto_server is missing: pip install 'moto[server]' (or run scripts/test.sh once for .venv)"

tmpdir work
backup=$(debian_backup)
items=$(debian_backup_items)

# Servers: sdb-local on a SQLite file, moto in memory; both stopped on exit.
pids=()
stop_servers() {
    local p
    for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
    cleanup_tmps
}
trap stop_servers EXIT
sdb_args=(--port 0)
[ "${SDB_DB:-memory}" = file ] && sdb_args+=(--db "$work/sdb.sqlite")
"$SDB_LOCAL" "${sdb_args[@]}" >"$work/sdb.out" 2>"$work/sdb.err" &
pids+=($!)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
    sdb_url=$(sed -n 's/^listening on //p' "$work/sdb.out")
    if [ -n "$sdb_url" ] && curl -s -o /dev/null "http://127.0.0.1:$port/"; then break; fi
    sleep 0.2
done
[ -n "$sdb_url" ] || die "sdb-local did not start: $(cat "$work/sdb.err")"
curl -s -o /dev/null "http://127.0.0.1:$port/" || die "moto did not start: $(tail -3 "$work/moto.log")"
export AWS_ENDPOINT_URL_SIMPLEDB=$sdb_url
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$port AWS_ENDPOINT_URL_STS=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export HOME=$work/home
mkdir -p "$HOME"

aws_repoman() {
    local domain=$1
    shift
    "$REPOMAN_BIN" --simpledb-domain "$domain" --s3-bucket repoman-bench "$@" </dev/null
}
stats_reset() { curl -sf -X POST "$sdb_url/__stats/reset" >/dev/null; }
# stat ACTION: how many requests of ACTION since the last reset.
stat() { curl -sf "$sdb_url/__stats" | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"; }
# total: every request since the last reset.
total() { curl -sf "$sdb_url/__stats" | python3 -c 'import json, sys; print(sum(json.load(sys.stdin).values()))'; }

for run in $(seq "$RUNS"); do
    domain=bench$run
    aws_repoman "$domain" setup -d bookworm -c main -a amd64 >/dev/null 2>&1 \
        || { aws_repoman "$domain" setup -d bookworm -c main -a amd64; exit 1; }
    stats_reset
    measure restore aws_repoman "$domain" restore "$backup" -y
    restore_puts=$(($(stat BatchPutAttributes) + $(stat PutAttributes))) restore_total=$(total)
    stats_reset
    measure backup aws_repoman "$domain" backup -o "$work/backup-$run.json"
    backup_selects=$(stat Select) backup_total=$(total)
    stats_reset
    measure publish aws_repoman "$domain" publish
    publish_selects=$(stat Select) publish_total=$(total)
    log "run $run: restore ${restore_puts} puts (${restore_total} requests), backup ${backup_selects} Selects, publish ${publish_selects} Selects"
done
backed=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(sum(len(l) for n in d["packages"].values() for ds in n.values() for c in ds.values() for l in c.values()))' "$work/backup-$RUNS.json")
[ "$backed" -eq "$items" ] || die "the backup holds $backed items, expected $items"

# The floors, from the backup's bytes (see the header).
read -r bytes answer < <(python3 - "$backup" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
put = answer = 0
for n in d["packages"].values():
    for ds in n.values():
        for c in ds.values():
            for items in c.values():
                for it in items:
                    pairs = [(k, v) for k, vs in it.items() for v in (vs if isinstance(vs, list) else [vs])]
                    put += 64 + sum(len(k) + len(v.encode()) for k, v in pairs)
                    answer += 64 + 30 + sum(len(k) + len(v.encode()) + 60 for k, v in pairs)
print(put, answer)
PY
)
batches=$(((items + 24) / 25)) put_floor=$(((bytes + 921599) / 921600))
pages=$(((items + 2499) / 2500)) answer_floor=$(((answer + 1048575) / 1048576))
r=$(wall restore) b=$(wall backup) p=$(wall publish)
row "restore $items items to SimpleDB (sdb-local)" "$(secs "$r") (CPU $(secs "$(cpu restore)"))" "-" \
    "$(calc "$items / $r") items/s" "-" "-"
row "restore: SimpleDB write requests" "$restore_puts ($restore_total in all)" \
    "ceil(N/25) = $batches; bytes/900 KB = $put_floor" "+$((restore_puts - batches))" \
    "<= ceil(N/25) + const" "$(verdict "$restore_puts <= $batches + 16")"
row "backup $items items from SimpleDB" "$(secs "$b") (CPU $(secs "$(cpu backup)"))" "-" \
    "$(calc "$items / $b") items/s; $backup_selects Selects ($backup_total requests)" "-" "-"
row "publish $items items from SimpleDB + S3 (moto)" "$(secs "$p") (CPU $(secs "$(cpu publish)"))" "-" "-" "-" "-"
row "publish: Selects (1 dist/comp, 2 indices) vs item pages" "$publish_selects ($publish_total requests in all)" \
    "ceil(N/2500) = $pages" "+$((publish_selects - pages))" "<= ceil(N/2500) + 4" "$(verdict "$publish_selects <= $pages + 4")"
row "publish: Selects vs 1 MB answer pages" "$publish_selects" "answer bytes/1 MB = $answer_floor" \
    "+$((publish_selects - answer_floor))" "<= floor + 1 per index" "$(verdict "$publish_selects <= $answer_floor + 2")"
echo "backup/restore against sdb-local: $items items, median of $RUNS runs; request counts of the last run; $(machine_line)"
print_table
