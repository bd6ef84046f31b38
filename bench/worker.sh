#!/usr/bin/env bash
# Latency and throughput of the Worker on loopback: one listener with 50 history tracks,
# 100 candidates, warm isolate. Measured twice: through `wrangler dev` (which puts a Node
# proxy in front of workerd) and through workerd directly (Miniflare's API, no proxy).
# Prints wrk's requests/s and latency percentiles, and the sequential round trip and the
# Worker's own timing_ms.
#
# Needs the demo's model and data (scripts/demo.sh). Usage: bench/worker.sh
#   DURATION=15 CONNECTIONS=4 bench/worker.sh
#   LISTENER=1 bench/worker.sh     (with a listener token instead of the service token)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-4}"
WRANGLER_URL="http://127.0.0.1:${WORKER_PORT:-8787}"
DIRECT_PORT="${DIRECT_PORT:-8788}"
[ -f model/CURRENT ] && [ -d data/synth ] || { echo "error: run scripts/demo.sh first (it trains and exports the model)" >&2; exit 1; }
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y --no-install-recommends wrk; }
need_cargo
build_trainer
need_node_tools

scripts/worker.sh start
RESONANCE_ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)" \
  "$TRAINER" publish --data data/synth --models model --worker "$WRANGLER_URL" >/dev/null
body="$(mktemp)"
RESONANCE_SERVICE_TOKEN="$(sed -n 's/^SERVICE_TOKEN=//p' .dev.vars)" \
  "$TRAINER" rerank --data data/synth --worker "$WRANGLER_URL" --candidates 100 --show 0 --request-out "$body"
export BODY_FILE="$body"
# The service token (as the music service's backend calls); LISTENER=1 measures the browser's
# path instead: a listener token for the body's listener (verified, rate-limited).
export RESONANCE_SERVICE_TOKEN="$(sed -n 's/^SERVICE_TOKEN=//p' .dev.vars)"
export TOKEN="$RESONANCE_SERVICE_TOKEN"
if [ "${LISTENER:-0}" = 1 ]; then
  export RESONANCE_LISTENER_TOKEN_KEYS="$(sed -n "s/^LISTENER_TOKEN_KEYS='\(.*\)'$/\1/p" .dev.vars)"
  TOKEN="$("$TRAINER" listener-token --user-id "$(node -p "JSON.parse(require('fs').readFileSync('$body')).user_id")" --seconds 3600)"
fi

measure() { # name url
  step "$1: wrk, $CONNECTIONS connections, ${DURATION}s"
  node bench/timing.mjs "$2" "$body" 50 >/dev/null # warm
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/post.lua "$2/v1/rerank" |
    grep -E 'Requests/sec|Non-2xx|50%|90%|99%|requests in'
  node bench/timing.mjs "$2" "$body" 300
  echo "  the same, a new listener each time (the model runs on every request):"
  VARY_USERS=1 TOKEN="$RESONANCE_SERVICE_TOKEN" node bench/timing.mjs "$2" "$body" 300
}

measure "through wrangler dev (Node proxy + workerd)" "$WRANGLER_URL"

PORT="$DIRECT_PORT" node bench/miniflare.mjs > .wrangler/miniflare.log 2>&1 &
direct=$!
trap 'kill $direct 2>/dev/null; rm -f "$body"' EXIT
for _ in $(seq 1 60); do grep -q '^ready' .wrangler/miniflare.log && break; sleep 0.5; done
grep -q '^ready' .wrangler/miniflare.log || { cat .wrangler/miniflare.log; exit 1; }
measure "through workerd directly (Miniflare, no proxy)" "http://127.0.0.1:$DIRECT_PORT"
