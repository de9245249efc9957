#!/usr/bin/env bash
# The console's tests: build (type check + size budget), Vitest, then the browser end-to-end
# test in Debian's headless Chromium against the built worker (scripts/build must have run).
# Installs chromium (and a CJK font) with apt when missing. The browser test runs from the
# repository root (workerd resolves the worker's modules from the working directory).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
npx vitest run --reporter=dot
cd ..
# Debian's chromium, and a small CJK font so the Chinese screenshots show characters.
missing=()
[[ -n "${CHROMIUM_PATH:-}" ]] || command -v chromium >/dev/null || missing+=(chromium)
[[ -n "$(fc-list :lang=zh family 2>/dev/null)" ]] || missing+=(fonts-wqy-microhei)
if ((${#missing[@]})); then
  echo "installing ${missing[*]} for the browser tests (apt-get)"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
timeout 600 node --test --test-timeout=180000 --test-concurrency=1 web/tests/console.e2e.test.mjs
