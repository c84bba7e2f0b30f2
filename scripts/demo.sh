#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone: build, set up a
# repository, add real Debian packages (binary and source), list them,
# publish, and print the sources.list line apt needs.
#   scripts/demo.sh [DIR]    (default: ./demo-repo)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-$PWD/demo-repo}
cargo build --quiet --bin repoman-cli
cli() { target/debug/repoman-cli --local-dir "$dir" "$@"; }
cli setup -d bookworm -c main -a amd64 --origin Demo --label Demo
cli add -d bookworm -c main fixtures/debian/*.deb fixtures/debian/hello_2.10-3.dsc
cli query
cli publish
