#!/usr/bin/env bash
# The console's tests: build (type check + size budget), Vitest, then the browser end-to-end
# test in Debian's headless Chromium against the built worker (scripts/build must have run).
# Installs chromium with apt when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
npx vitest run --reporter=dot
if [[ -z "${CHROMIUM_PATH:-}" ]] && ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium for the browser tests (apt-get)"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
fi
timeout 600 node --test --test-timeout=180000 --test-concurrency=1 tests/console.e2e.test.mjs
