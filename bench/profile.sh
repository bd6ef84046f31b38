#!/usr/bin/env bash
# Where the Worker's CPU goes under the benchmark's load (bench/worker.sh's bodies, wrk -t2
# -c8): V8's sampling profiler in workerd, through its inspector (bench/profile.mjs).
#
# The profiled Worker is build/worker-profile: the same wasm as build/worker, through the same
# wasm-opt -Oz, but keeping the name section, so wasm functions show by their Rust names
# (inlined functions count toward their caller). Prints the top functions by self time and
# writes the whole profile, which Chrome's DevTools opens (Performance, "Load profile").
#
# Needs the state bench/worker.sh publishes (run it first). Usage:
#   bench/profile.sh                         # 20 s warm-up, 10 s profiled
#   WARMUP=30 DURATION=15 TOP=50 OUT=/tmp/worker.cpuprofile bench/profile.sh
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
WARMUP="${WARMUP:-20}"
DURATION="${DURATION:-10}"
OUT="${OUT:-$REPO_ROOT/build/worker.cpuprofile}"
PORT="${DIRECT_PORT:-8788}"
INSPECTOR_PORT="${INSPECTOR_PORT:-9239}" # wrangler dev's inspector takes 9229
[ -f model/CURRENT ] && [ -d data/synth ] || { echo "error: run scripts/demo.sh, then bench/worker.sh, first" >&2; exit 1; }
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo; $sudo apt-get install -y --no-install-recommends wrk; }
need_node_tools
step "the Worker with its functions' names (build/worker-profile)"
NAMES=1 scripts/build-worker.sh >/dev/null
out=build/worker-profile

work="$(mktemp -d)"
direct=""
trap '[ -n "$direct" ] && kill "$direct" 2>/dev/null; rm -rf "$work"' EXIT
PORT="$PORT" INSPECTOR_PORT="$INSPECTOR_PORT" WORKER_BUILD="$out" node bench/miniflare.mjs > "$work/miniflare.log" 2>&1 &
direct=$!
for _ in $(seq 1 120); do grep -q '^ready' "$work/miniflare.log" && break; sleep 0.25; done
grep -q '^ready' "$work/miniflare.log" || { cat "$work/miniflare.log"; exit 1; }

export BODIES_FILE="$work/bodies.jsonl"
node bench/bodies.mjs data/synth "$BODIES_FILE" 1000 100
export TOKEN="$(sed -n 's/^SERVICE_TOKEN=//p' .dev.vars)"
status="$(curl -s -o "$work/probe.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  --data-binary "$(head -1 "$BODIES_FILE")" "http://127.0.0.1:$PORT/v1/rerank")"
[ "$status" = 200 ] || { echo "error: a probe rerank answered $status (run bench/worker.sh first):" >&2; cat "$work/probe.json" >&2; exit 1; }

step "warming the isolate's caches: ${WARMUP}s under load"
wrk -t2 -c8 -d"${WARMUP}s" -s bench/bodies.lua "http://127.0.0.1:$PORT/v1/rerank" | grep -E 'Requests/sec|Non-2xx'
step "profiling ${DURATION}s of wrk -t2 -c8"
wrk -t2 -c8 -d"$((DURATION + 2))s" -s bench/bodies.lua "http://127.0.0.1:$PORT/v1/rerank" > "$work/wrk.txt" &
wrk=$!
sleep 1
INSPECTOR_PORT="$INSPECTOR_PORT" node bench/profile.mjs "http://127.0.0.1:$PORT" "$DURATION" "$OUT"
wait "$wrk"
grep -E 'Requests/sec|Non-2xx' "$work/wrk.txt"
echo "profile: $OUT"
