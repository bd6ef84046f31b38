#!/usr/bin/env bash
# Builds the browser side into web-demo/out/ (a static site):
#   1. the browser module, once per engine (webgpu: burn on WebGPU; cpu: tract): crates/browser
#      for wasm32 (the size-optimised `worker` profile of the Worker's wasm), wasm-bindgen's
#      `--target web` glue, npm binaryen's wasm-opt (Debian's wasm-opt 108 breaks the module),
#      into web-demo/public/pkg/{webgpu,cpu}/;
#   2. the Next.js app (web-demo/, static export), with web-demo/public/ copied in, including
#      the demo bundle web-demo/public/demo/ when `trainer snapshot` wrote one.
# Unchanged inputs skip each step. Prints the modules' sizes.
#
# Usage: scripts/build-web.sh
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
need_cargo
need_rust_target wasm32-unknown-unknown
need_node_tools
need_wasm_bindgen
need_web_tools

# One module per engine (a page downloads only the one it runs), each staged outside public/
# so a build that stops midway leaves no half module for Next to copy.
build_module() {
  local engine=$1 out="web-demo/public/pkg/$1" stage="build/browser-$1"
  step "building the browser module for $engine (wasm32, profile worker)"
  cargo build --locked --profile worker --target wasm32-unknown-unknown -p resonance-browser \
    --no-default-features --features "$engine"
  local wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/worker/resonance_browser.wasm"
  local stamp
  stamp="$(sha256sum < "$wasm" | cut -d' ' -f1)"
  if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    echo "$out is up to date"
  else
    if ! restore_wasm_build "browser-$engine" "$stamp" "$stage"; then
      rm -rf "$stage"
      mkdir -p "$stage"
      wasm-bindgen --target web --no-typescript --out-dir "$stage" --out-name resonance_browser "$wasm"
      step "optimising the $engine module (wasm-opt -Oz; minutes)"
      optimise_wasm "$stage/resonance_browser_bg.wasm"
      echo "$stamp" > "$stage/.stamp"
      save_wasm_build "browser-$engine" "$stamp" "$stage"
    fi
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    mv "$stage" "$out"
  fi
  local raw gz
  raw=$(stat -c %s "$out/resonance_browser_bg.wasm")
  gz=$(gzip -9 -c "$out/resonance_browser_bg.wasm" | wc -c)
  awk -v e="$engine" -v raw="$raw" -v gz="$gz" \
    'BEGIN { printf "browser module (%s): %.2f MB, %.2f MB gzip\n", e, raw / 1e6, gz / 1e6 }'
}
# A module from before the split into engines.
rm -f web-demo/public/pkg/resonance_browser* web-demo/public/pkg/.stamp
build_module webgpu
build_module cpu

step "building the web demo (Next.js static export into web-demo/out)"
(cd web-demo && NEXT_TELEMETRY_DISABLED=1 npx --no-install next build)
