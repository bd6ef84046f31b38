#!/usr/bin/env bash
# The edge benchmark: the Worker in workerd through Miniflare's API (no `wrangler dev` proxy,
# which alone caps near 270 req/s), the demo model (d = 128, L = 50), and 1,000 request
# bodies (bench/bodies.mjs: each a random listener with history and 100 distinct random
# catalogue tracks), one picked at random per request by bench/bodies.lua.
#
# Prints, in order:
#   - a cold isolate's first seconds (bench/cold.mjs): the first rerank (round trip, and the
#     Worker's own timing_ms), the requests queued behind the graph and plan it builds after
#     answering, and when the model path first answers scored; for a stored state and for a
#     request that needs the model;
#   - listeners the isolate has never seen (a fresh isolate, each request another listener:
#     every feature read goes to KV): wrk -t2 -c8 -d2s;
#   - after a warm-up (WARMUP seconds under load, so features are in the isolate's cache),
#     wrk -t2 -c8 -d15s and wrk -t1 -c1 -d10s: requests/s, latency p50 / p90 / p99, and the
#     CPU workerd used (percent of the machine's cores, and milliseconds per request: what a
#     Worker is billed);
#   - one listener on one connection, answered from the stored state and then with the model
#     running on every request (two random `recent_tracks`): the wasm forward pass's cost;
#   - after each, where 200 answers' encoder states came from (bench/mix.mjs: stored in KV,
#     cached in the isolate, computed by the model), their backends and degradation flags;
#   - the floor: the same runs against a Worker that answers "ok" (bench/miniflare.mjs
#     FLOOR=1), the latency this machine's workerd gives any Worker.
#
# Needs the demo's model and data (scripts/demo.sh). Usage: bench/worker.sh
#   WARMUP=60 DURATION=15 bench/worker.sh
#   WORKER_BUILD=/tmp/old/build/worker bench/worker.sh   (another build: before/after)
#   PROXY=1 bench/worker.sh   (also through wrangler dev, for comparison)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
WARMUP="${WARMUP:-60}"
DURATION="${DURATION:-15}"
WRANGLER_URL="http://127.0.0.1:${WORKER_PORT:-8787}"
DIRECT_PORT="${DIRECT_PORT:-8788}"
DIRECT_URL="http://127.0.0.1:$DIRECT_PORT"
[ -f model/CURRENT ] && [ -d data/synth ] || { echo "error: run scripts/demo.sh first (it trains and exports the model)" >&2; exit 1; }
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y --no-install-recommends wrk; }
need_cargo
build_trainer
need_node_tools

# wrangler dev writes the KV state (in .wrangler/state) that workerd then reads.
# Layout 2 and offline interest graphs: the state every earlier figure here was measured on.
# This is a new version in the demo's Redis (scripts/redis.sh), live in Redis and the Worker.
ours=0
scripts/worker.sh status >/dev/null 2>&1 || ours=1
scripts/worker.sh start >/dev/null
scripts/redis.sh start >/dev/null
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/0}" \
  RESONANCE_ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)" \
  "$TRAINER" daily --data data/synth --models model --layout 2 --interest-graphs offline \
  --worker "$WRANGLER_URL" >/dev/null
# wrangler dev's bundler keeps watching the tree (esbuild, 8–13 % of a core here): a Worker
# this script started is stopped once the state is written, unless PROXY=1 measures through it.
if [ "$ours" = 1 ] && [ "${PROXY:-0}" != 1 ]; then scripts/worker.sh stop; fi
work="$(mktemp -d)"
export BODIES_FILE="$work/bodies.jsonl"
node bench/bodies.mjs data/synth "$BODIES_FILE" 1000 100
# Distinct listeners: the load walks the first ones, the tally takes the last 200.
UNSEEN_FILE="$work/unseen.jsonl"
DISTINCT=1 node bench/bodies.mjs data/synth "$work/distinct.jsonl" "${UNSEEN:-2900}" 100 17
head -n -200 "$work/distinct.jsonl" > "$UNSEEN_FILE"
tail -n 200 "$work/distinct.jsonl" > "$work/unseen-tally.jsonl"
export TOKEN="$(sed -n 's/^SERVICE_TOKEN=//p' .dev.vars)"

direct=""
trap '[ -n "$direct" ] && kill "$direct" 2>/dev/null; rm -rf "$work"' EXIT
start_direct() { # a fresh workerd, so a fresh isolate
  [ -n "$direct" ] && { kill "$direct"; wait "$direct" 2>/dev/null || true; }
  PORT="$DIRECT_PORT" node bench/miniflare.mjs > "$work/miniflare.log" 2>&1 &
  direct=$!
  for _ in $(seq 1 120); do grep -q '^ready' "$work/miniflare.log" && return; sleep 0.25; done
  cat "$work/miniflare.log"; exit 1
}
# CPU ticks used so far by the process tree under $direct (workerd runs the isolate).
cpu_ticks() {
  local pids="$direct" frontier="$direct" total=0 pid
  while [ -n "$frontier" ]; do
    frontier="$(for pid in $frontier; do pgrep -P "$pid"; done | tr '\n' ' ')"
    pids="$pids $frontier"
  done
  for pid in $pids; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
  done
  echo "$total"
}
load() { # load NAME THREADS CONNECTIONS SECONDS URL
  local before after requests
  local bodies="a random body of $(wc -l < "$BODIES_FILE") per request"
  [ "${ORDER:-}" = sequential ] && bodies="each request the next of $(wc -l < "$BODIES_FILE") listeners"
  step "$1: wrk -t$2 -c$3 -d$4s, $bodies"
  before="$(cpu_ticks)"
  WRK_THREADS="$2" wrk -t"$2" -c"$3" -d"$4s" --latency -s bench/bodies.lua "$5/v1/rerank" > "$work/wrk.txt"
  after="$(cpu_ticks)"
  grep -E 'Requests/sec|Non-2xx|Socket errors| 50%| 90%| 99%' "$work/wrk.txt"
  requests="$(awk '/requests in/ {print $1}' "$work/wrk.txt")"
  if [ "${ORDER:-}" = sequential ] && [ "$requests" -gt "$(wc -l < "$BODIES_FILE")" ]; then
    echo "  note: $requests requests walked past the file's $(wc -l < "$BODIES_FILE") bodies: the rest of the run repeated listeners"
  fi
  awk -v t=$(( after - before )) -v hz="$(getconf CLK_TCK)" -v s="$4" -v n="$requests" \
    -v cores="$(nproc)" 'BEGIN { printf "  workerd CPU: %.0f%% of %d cores, %.2f ms per request\n", 100 * t / hz / s / cores, cores, 1000 * t / hz / n }'
}

first="$(head -1 "$BODIES_FILE")"
echo "$first" > "$work/one.json"
# A fresh isolate (a fresh workerd) over the published state: the first rerank, then 2 s of
# requests one after another, which queue behind the graph and plan built after answering.
start_direct
step "a cold isolate: the first rerank (a stored state), then 2 s of the same (bench/cold.mjs)"
node bench/cold.mjs "$DIRECT_URL" "$work/one.json"
start_direct
step "a cold isolate: the first rerank that needs the model, then 2 s of the same (RECENT=1 bench/cold.mjs)"
RECENT=1 node bench/cold.mjs "$DIRECT_URL" "$work/one.json"

mix() { node bench/mix.mjs "$DIRECT_URL" "$1" 200; }

# The first rerank above was on another fresh isolate; these listeners are new to this one.
start_direct
BODIES_FILE="$UNSEEN_FILE" ORDER=sequential load "listeners the isolate has never seen, 8 connections" 2 8 2 "$DIRECT_URL"
mix "$work/unseen-tally.jsonl"

start_direct
step "warming the isolate's caches: ${WARMUP}s under load"
wrk -t2 -c8 -d"${WARMUP}s" -s bench/bodies.lua "$DIRECT_URL/v1/rerank" | grep -E 'Requests/sec|Non-2xx'
load "workerd, 8 connections" 2 8 "$DURATION" "$DIRECT_URL"
load "workerd, 1 connection" 1 1 10 "$DIRECT_URL"
mix "$BODIES_FILE"
# The model path, warm: one listener, one connection; with RECENT=1 each request brings two
# random recent tracks, so the model runs every time (the wasm forward pass and the dot
# products), against the same listener answered from the stored state.
step "one listener, stored state, 1 connection (bench/timing.mjs, 300 requests)"
node bench/timing.mjs "$DIRECT_URL" "$work/one.json" 300
step "one listener, the model runs on each request (RECENT=1 bench/timing.mjs, 300 requests)"
RECENT=1 node bench/timing.mjs "$DIRECT_URL" "$work/one.json" 300
# The floor: the same workerd serving a Worker that does nothing. Its p99 bounds what the
# rerank's can show on this machine.
FLOOR=1 start_direct
for c in "2 8" "1 1"; do
  set -- $c
  step "the floor (a Worker that answers \"ok\"): wrk -t$1 -c$2 -d10s"
  wrk -t"$1" -c"$2" -d10s --latency "$DIRECT_URL/" | grep -E 'Requests/sec| 50%| 90%| 99%'
done
if [ "${PROXY:-0}" = 1 ]; then
  load "through wrangler dev (Node proxy + workerd), 8 connections" 2 8 "$DURATION" "$WRANGLER_URL"
fi
