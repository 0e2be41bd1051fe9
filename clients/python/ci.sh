#!/usr/bin/env bash
# CI for the Python client: a fresh virtual environment, the package with its
# test extras, then pytest against the real server binary ($WAVECAST_BIN, else
# target/release or target/debug; built here if neither exists).
set -euo pipefail
cd "$(dirname "$0")"

if [ -z "${WAVECAST_BIN:-}" ] && [ ! -x ../../target/release/wavecast ] && [ ! -x ../../target/debug/wavecast ]; then
    (cd ../.. && cargo build -p wavecast --bin wavecast)
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv
fi

VENV="$(mktemp -d)/venv"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
"$VENV/bin/pytest" -q -p no:cacheprovider
