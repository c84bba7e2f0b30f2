#!/usr/bin/env bash
# Runs the whole test suite, installing what it needs on a fresh machine:
# Debian tools the tests use as real clients and oracles (dpkg-dev, apt,
# gpg), and a project-local Python virtualenv (.venv) with moto's server and
# boto3 for the AWS-protocol tests. Debug profile: fast to build.
#
# Before the tests: formatting; lints with and without the `aws` feature;
# the declared minimum Rust version against the dependencies' (see
# scripts/check-msrv.py); the API docs with warnings denied.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in dpkg-deb:dpkg dpkg-source:dpkg-dev apt-get:apt gpg:gnupg python3:python3 curl:curl age:age script:bsdutils; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool#*:}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if ((${#need_apt[@]})); then
    echo "installing: ${need_apt[*]}" >&2
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}"
fi

if [ ! -x .venv/bin/moto_server ] || ! .venv/bin/python -c 'import boto3, moto' 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check 'moto[server]>=5.2.5,<6' boto3
fi
export PATH="$PWD/.venv/bin:$PATH"

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --no-default-features -- -D warnings
python3 scripts/check-msrv.py
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
cargo test --workspace --all-targets "$@"
