#!/usr/bin/env bash
# backup-rate-limit on S3 (moto): `backup --to-bucket` of a synthetic state
# of N package items (default 3000, ~240 kB gzipped) at several rates, one
# run each, against the time the pacing adds by design: (size - one piece)
# / rate (see src/rate.rs).
# Usage: scripts/bench/backup-rate.sh [N]
# REPOMAN_BIN picks the binary (see lib.sh); the upload pacing, not the
# build profile, dominates these figures.
source "$(dirname "$0")/lib.sh"
n=${1:-3000}
need_repoman
py="$BENCH_ROOT/.venv/bin/python3"; [ -x "$py" ] || py=python3
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$py" "$BENCH_ROOT/tests/aws/moto_server.py" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto; [ -n "${KEEP_TMP:-}" ] || rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port))" 2>/dev/null; do sleep 0.2; done
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL_S3 "$py" -c "import boto3; boto3.client('s3').create_bucket(Bucket='rate-bench')"
python3 "$BENCH_ROOT/scripts/bench/gen-backup.py" "$n" > "$work/in.json"
cli() { "$REPOMAN_BIN" --state "sqlite:$work/state.sqlite" --s3-bucket rate-bench "$@"; }
cli restore "$work/in.json" >/dev/null 2>&1 || die "restore failed"
printf '| rate | backup --to-bucket | added by the rate | by design |\n|---|---:|---:|---:|\n'
base=""
for rate in none 1M 256k 128k 64k; do
    args=(); [ "$rate" = none ] || args=(--rate-limit "$rate")
    start=$(date +%s.%N)
    key=$(cli backup --to-bucket "${args[@]}" 2>/dev/null)
    end=$(date +%s.%N)
    size=$(AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL_S3 "$py" -c "import boto3,sys; print(boto3.client('s3').head_object(Bucket='rate-bench', Key=sys.argv[1])['ContentLength'])" "$key")
    python3 - "$rate" "$start" "$end" "$size" "${base:-}" <<'PY'
import sys
rate, start, end, size, base = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
took = end - start
if rate == "none":
    print(f"| none ({size} bytes) | {took:.2f} s | | |")
else:
    bps = float(rate[:-1]) * {"k": 1024, "M": 1 << 20}[rate[-1]]
    piece = min(max(bps // 8, 1024), 64 * 1024)
    print(f"| {rate} | {took:.2f} s | {took - float(base):.2f} s | {(size - piece) / bps:.2f} s |")
PY
    [ -n "$base" ] || base=$(python3 -c "print($end - $start)")
done
