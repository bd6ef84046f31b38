#!/usr/bin/env bash
# Builds the browser side into web-demo/out/ (a static site):
#   1. the browser module: edge/browser for wasm32 (the size-optimised `worker` profile shared
#      by both wasm modules), wasm-bindgen's `--target web` glue, npm binaryen's wasm-opt
#      (Debian's wasm-opt 108 breaks the module), into web-demo/public/pkg/;
#   2. the Next.js app (web-demo/, static export), with web-demo/public/ copied in, including
#      the demo bundle web-demo/public/demo/ when `trainer snapshot` wrote one.
# Unchanged inputs skip each step. Prints the module's size.
#
# Usage: scripts/build-web.sh
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
need_cargo
need_rust_target wasm32-unknown-unknown
need_node_tools
need_wasm_bindgen
need_web_tools

step "building the browser module (wasm32, profile worker)"
cargo build --locked --profile worker --target wasm32-unknown-unknown -p resonance-browser
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/worker/resonance_browser.wasm"

pkg=web-demo/public/pkg
stamp="$(sha256sum < "$wasm" | cut -d' ' -f1)"
if [ -f "$pkg/.stamp" ] && [ "$(cat "$pkg/.stamp")" = "$stamp" ]; then
  echo "web-demo/public/pkg is up to date"
else
  # Staged outside public/, so a build that stops midway leaves no half module for Next to copy.
  tmp=build/browser-pkg.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  wasm-bindgen --target web --no-typescript --out-dir "$tmp" --out-name resonance_browser "$wasm"
  step "optimising the module (wasm-opt -Oz; a few minutes)"
  wasm-opt -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    --strip-debug --strip-producers \
    "$tmp/resonance_browser_bg.wasm" -o "$tmp/resonance_browser_bg.wasm"
  echo "$stamp" > "$tmp/.stamp"
  rm -rf build/browser-pkg.old
  [ -d "$pkg" ] && mv "$pkg" build/browser-pkg.old
  mkdir -p "$(dirname "$pkg")"
  mv "$tmp" "$pkg"
  rm -rf build/browser-pkg.old
fi
raw=$(stat -c %s "$pkg/resonance_browser_bg.wasm")
gz=$(gzip -9 -c "$pkg/resonance_browser_bg.wasm" | wc -c)
awk -v raw="$raw" -v gz="$gz" 'BEGIN { printf "browser module: %.2f MB, %.2f MB gzip\n", raw / 1e6, gz / 1e6 }'

step "building the web demo (Next.js static export into web-demo/out)"
(cd web-demo && NEXT_TELEMETRY_DISABLED=1 npx --no-install next build)
