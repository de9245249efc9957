#!/usr/bin/env bash
# Builds the admin console into web/dist: type check, Vite production build, and the initial-JS
# budget (the JS index.html loads before any page chunk: at most 300 kB gzip).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p .
npx vite build --logLevel warn
node scripts/initial-size.mjs 300
