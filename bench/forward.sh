#!/usr/bin/env bash
# The CPU engine's forward pass alone (crates/edge/src/bin/forward_bench.rs: batch 1, L = 50,
# C = 100, the demo model's d = 128), natively and as wasm in Node's V8 (the engine workerd
# embeds), for the build variants the Worker could ship:
#   - simd128, everything at opt-level z: the Worker's build today (profile `worker`);
#   - + relaxed-simd: tract's kernels fuse multiply-add (f32x4.relaxed_madd); Worker-only, the
#     browser module cannot assume it;
#   - tract at opt-level 3: the kernels and the plan's executor optimised for speed, the
#     rest of the Worker for size;
#   - tract-linalg alone at opt-level 3: only the kernels (matrix products, activations).
# Each wasm build goes through wasm-opt -Oz as the Worker's does, and is compared with the
# native outputs (the largest difference over 16 forward passes): the parity the tests hold
# to 1e-4. Prints one line per variant, and each wasm module's size (raw and gzip).
#
# Needs the demo's model (scripts/demo.sh). Usage: bench/forward.sh   (RUNS=2000 by default;
# VARIANTS below)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
RUNS="${RUNS:-2000}"
[ -f model/CURRENT ] || { echo "error: run scripts/demo.sh first (it trains and exports the model)" >&2; exit 1; }
onnx="$PWD/model/$(cat model/CURRENT)/sasrec.onnx"
need_cargo
need_rust_target wasm32-wasip1
need_node_tools
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "native (the test profile: dependencies at opt-level 2)"
cargo build --locked -q -p resonance-edge --bin forward-bench
"$CARGO_TARGET_DIR/debug/forward-bench" "$onnx" --runs "$RUNS" --write "$work/native.txt"

# The packages whose opt-level the "tract at opt-level 3" variants raise.
TRACT_PACKAGES="tract-linalg tract-core tract-data ndarray"
variant() { # NAME FEATURES [PACKAGE...]: the packages built at opt-level 3
  local name="$1" features="$2" config=() enable=()
  shift 2
  for package in "$@"; do config+=(--config "profile.worker.package.$package.opt-level=3"); done
  [[ "$features" == *relaxed-simd* ]] && enable=(--enable-relaxed-simd)
  step "wasm: $name"
  # A target folder per variant: their flags differ, and sharing one would rebuild each time.
  CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C target-feature=$features" \
    cargo build --locked -q "${config[@]}" --profile worker --target wasm32-wasip1 \
    --target-dir "$CARGO_TARGET_DIR/forward-bench/$name" -p resonance-edge --bin forward-bench
  optimise_wasm "$CARGO_TARGET_DIR/forward-bench/$name/wasm32-wasip1/worker/forward-bench.wasm" \
    "$work/$name.wasm" "${enable[@]}"
  node --no-warnings bench/wasi.mjs "$work/$name.wasm" "$onnx" --runs "$RUNS" --compare "$work/native.txt"
  raw=$(stat -c %s "$work/$name.wasm")
  gz=$(gzip -9 -c "$work/$name.wasm" | wc -c)
  awk -v raw="$raw" -v gz="$gz" 'BEGIN { printf "module: %.2f MB, %.2f MB gzip\n", raw / 1e6, gz / 1e6 }'
}
# VARIANTS picks some (each is a full tract build, a few minutes here): e.g. VARIANTS="simd128 relaxed-tract-o3".
for name in ${VARIANTS:-simd128 relaxed simd128-tract-o3 relaxed-tract-o3 simd128-linalg-o3 relaxed-linalg-o3}; do
  case "$name" in
    simd128) variant simd128 +simd128 ;;
    relaxed) variant relaxed +simd128,+relaxed-simd ;;
    simd128-tract-o3) variant simd128-tract-o3 +simd128 $TRACT_PACKAGES ;;
    relaxed-tract-o3) variant relaxed-tract-o3 +simd128,+relaxed-simd $TRACT_PACKAGES ;;
    simd128-linalg-o3) variant simd128-linalg-o3 +simd128 tract-linalg ;;
    relaxed-linalg-o3) variant relaxed-linalg-o3 +simd128,+relaxed-simd tract-linalg ;;
    *) echo "error: VARIANTS: unknown variant $name (simd128, relaxed, simd128-tract-o3, relaxed-tract-o3, simd128-linalg-o3, relaxed-linalg-o3)" >&2; exit 2 ;;
  esac
done
