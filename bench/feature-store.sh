#!/usr/bin/env bash
# The feature store's figures, on loopback:
#   1. materialize throughput (events/s) on a synthetic world of over a million events;
#   2. mirror throughput (keys/s) from Redis into the local Worker (wrangler dev);
#   3. p50/p99 of reading one user's views from Redis: one GET (redis-benchmark, 1 client).
#
# Usage: bench/feature-store.sh   (after scripts/demo.sh: it uses model/ and the running
#                                   Worker; starts its own redis-server on REDIS_PORT, 6399,
#                                   and afterwards mirrors the demo's own features back)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
bench_setup

step "materialize into Redis (two runs: the second replaces the first)"
"$TRAINER" materialize --data "$WORLD" --models model --feature-version 1
"$TRAINER" materialize --data "$WORLD" --models model --feature-version 2

step "mirror into the Worker on http://127.0.0.1:${WORKER_PORT:-8787}"
if curl -fsS "http://127.0.0.1:${WORKER_PORT:-8787}/health" >/dev/null 2>&1; then
  RESONANCE_ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)" \
    "$TRAINER" mirror --full --worker "http://127.0.0.1:${WORKER_PORT:-8787}" --batch-size 1000
else
  echo "no Worker answers (scripts/worker.sh start); skipped"
fi

step "reading one user's views from Redis (GET, one round trip; 1 client, 50,000 requests)"
key="$(redis-cli -p "$PORT" --scan --pattern 'rsn:v2:user:*' | head -1 || true)"
echo "key $key, $(redis-cli -p "$PORT" strlen "$key") bytes"
redis-benchmark -p "$PORT" -c 1 -n 50000 GET "$key" 2>/dev/null | sed -n '/latency summary/,/^$/p' || true

# The mirror above replaced the Worker's features with this world's: give the demo's back.
if redis-cli -p "${DEMO_REDIS_PORT:-6379}" get rsn:current >/dev/null 2>&1 &&
  curl -fsS "http://127.0.0.1:${WORKER_PORT:-8787}/health" >/dev/null 2>&1; then
  step "restoring the demo's features in the Worker (from the demo's Redis)"
  REDIS_URL="redis://127.0.0.1:${DEMO_REDIS_PORT:-6379}/0" \
    RESONANCE_ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)" \
    "$TRAINER" mirror --full --worker "http://127.0.0.1:${WORKER_PORT:-8787}" --batch-size 1000
fi
