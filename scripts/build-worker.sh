#!/usr/bin/env bash
# Builds the Worker into build/worker/: the Rust crate crates/worker for wasm32 (profile
# `worker`: size-optimised, LTO, SIMD), wasm-bindgen's glue, wasm-opt -Oz from npm's binaryen
# (Debian's wasm-opt 108 breaks this module), and the entry shim. Prints the sizes.
#
# Usage: scripts/build-worker.sh
#        NAMES=1 scripts/build-worker.sh   the same wasm into build/worker-profile, keeping the
#                                          functions' names (bench/profile.sh)
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
need_cargo
need_rust_target wasm32-unknown-unknown
need_node_tools
need_wasm_bindgen

step "building the Worker (wasm32, profile worker)"
cargo build --locked --profile worker --target wasm32-unknown-unknown -p resonance-worker
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/worker/resonance_worker.wasm"

out=build/worker name=worker names=()
if [ "${NAMES:-0}" = 1 ]; then
  out=build/worker-profile name=worker-profile names=(-g)
  export WASM_OPT_STRIP=""
fi
# wasm-opt takes minutes: skip the rest when neither the wasm nor the shim changed.
stamp="$(cat "$wasm" crates/worker/js/shim.mjs | sha256sum | cut -d' ' -f1)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  echo "$out is up to date"
  exit 0
fi
tmp="$out.tmp"
if ! restore_wasm_build "$name" "$stamp" "$tmp"; then
  rm -rf "$tmp"
  mkdir -p "$tmp"
  wasm-bindgen --target bundler --out-dir "$tmp" --out-name resonance_worker "$wasm"
  optimise_wasm "$tmp/resonance_worker_bg.wasm" "${names[@]}"
  cp crates/worker/js/shim.mjs "$tmp/shim.mjs"
  echo "$stamp" > "$tmp/.stamp"
  save_wasm_build "$name" "$stamp" "$tmp"
fi
# Swap the new build in whole, so a failed build leaves the previous one runnable.
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$tmp" "$out"
rm -rf "$out.old"

raw=$(stat -c %s "$out/resonance_worker_bg.wasm")
gz=$(gzip -9 -c "$out/resonance_worker_bg.wasm" | wc -c)
awk -v raw="$raw" -v gz="$gz" 'BEGIN { printf "worker wasm: %.2f MB, %.2f MB gzip (the free plan allows 3 MB gzip)\n", raw / 1e6, gz / 1e6 }'
