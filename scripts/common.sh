# Shared by the scripts: where builds and downloaded tools live, and small install helpers.
# Sourced, not run.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Builds and tools live outside the clone so a fresh clone (CI) reuses them when present.
export RESONANCE_CACHE="${RESONANCE_CACHE:-$HOME/.cache/resonance}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$RESONANCE_CACHE/target}"
mkdir -p "$RESONANCE_CACHE"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

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
