#!/usr/bin/env bash
# CI for clients/js, to be called from .ci/run after `cargo test` has built the
# binary. It installs what it needs (Debian's chromium, the npm packages from
# package-lock.json), type-checks, runs the unit, hook and integration tests,
# checks that the committed dashboard bundle is what the source builds, and
# runs the browser tests. The tests find the server through $WAVECAST_BIN,
# else ../../target/release/wavecast, else ../../target/debug/wavecast.
set -euo pipefail
cd "$(dirname "$0")"

# The browser tests run $CHROMIUM_BIN, else /usr/bin/chromium (test/browser/browser.ts).
if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
    apt-get update -qq && apt-get install -y -qq chromium
fi

npm ci --no-audit --no-fund
npm run typecheck
npm test
npm run check:dashboard
npm run test:browser
