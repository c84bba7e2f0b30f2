#!/usr/bin/env bash
# Side by side with apt-repoman 1.0.7 on one SimpleDB domain (sdb-local) and S3 (moto):
# restores tests/golden/dataset.json with repoman, then runs `query` of both tools in every
# table format and a few filters and compares standard output byte for byte. JSON and
# `packages` are compared as data (the original prints SimpleDB's order).
#   bash /work/shared/tools/setup-original-repoman.sh && cargo build && tests/golden/compare-with-original.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ORIG=${ORIG:-/tmp/origenv/bin/repoman-cli}
PY=${PY:-.venv/bin/python3}
R=$PWD/target/debug/repoman-cli
work=$(mktemp -d)
python_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mp=$(python_port); sp=$(python_port)
"$PY" tests/aws/moto_server.py -H 127.0.0.1 -p "$mp" >/dev/null 2>&1 & moto=$!
target/debug/sdb-local --port "$sp" --access-key testing --secret-key testing >/dev/null 2>&1 & sdb=$!
trap 'kill $moto $sdb; rm -rf "$work"' EXIT
sleep 3
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$mp AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$mp \
  AWS_ENDPOINT_URL_STS=http://127.0.0.1:$mp AWS_ENDPOINT_URL_SIMPLEDB=http://127.0.0.1:$sp \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 HOME=$work
g=(--simpledb-domain golden --s3-bucket golden-bucket)
"$R" "${g[@]}" restore tests/golden/dataset.json
diffs=0
for f in simple plain grid fancy_grid pipe orgtbl jira psql rst mediawiki moinmoin html latex \
  latex_booktabs textile json jsonc packages; do
  for args in "" "-p intver" "-p testdeb -d jessie" "-p hashi -w -a i386"; do
    # shellcheck disable=SC2086
    "$ORIG" "${g[@]}" --skip-checkup query -f $f $args >"$work/o" 2>/dev/null
    # shellcheck disable=SC2086
    "$R" "${g[@]}" query -f $f $args >"$work/r"
    case $f in
      json|jsonc) same=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))==json.load(open(sys.argv[2])))' "$work/o" "$work/r") ;;
      packages) same=$("$PY" -c 'import re,sys
st=lambda p: sorted(s.rstrip("\n") for s in re.split(r"\n(?=Filename: |Directory: )", open(p).read()))
print(st(sys.argv[1])==st(sys.argv[2]))' "$work/o" "$work/r") ;;
      *) cmp -s "$work/o" "$work/r" && same=True || same=False ;;
    esac
    [ "$same" = True ] || { echo "DIFFERENT: query -f $f $args"; diffs=$((diffs + 1)); }
  done
done
echo "$diffs difference(s)"
[ "$diffs" = 0 ]
