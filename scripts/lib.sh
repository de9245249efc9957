# Shared helpers for scripts/*: pinned tool versions and PATH set-up. Sourced, not run.
WORKER_BUILD_VERSION=0.8.7
# Must equal the wasm-bindgen crate pinned in Cargo.toml/Cargo.lock.
WASM_BINDGEN_VERSION=0.2.129

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Prefer the project's pinned tools (no downloads from outside the package registries).
use_local_tools() {
  export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
  if [[ -x node_modules/.bin/wasm-opt ]]; then export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"; fi
  if [[ -x node_modules/.bin/esbuild ]]; then export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"; fi
  if command -v wasm-bindgen >/dev/null && [[ "$(wasm-bindgen --version)" == *"$WASM_BINDGEN_VERSION"* ]]; then
    WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
    export WASM_BINDGEN_BIN
  fi
  # wrangler/miniflare must not phone home: no network here, and none needed.
  export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false
}
