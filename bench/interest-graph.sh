#!/usr/bin/env bash
# Interest graph figures, on loopback:
#   1. the offline provider on every listener of a world of over a million events
#      (listeners/s, summary and graph included, stored in Redis);
#   2. the same run again: every listener is skipped (the resume check, one MGET per batch);
#   3. materialize with and without attaching the stored graphs (the cost of the join).
#
# Usage: bench/interest-graph.sh   (after scripts/demo.sh: it uses model/; starts its own
#                                    redis-server on REDIS_PORT, 6399)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
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

step "offline interest graphs for every listener"
/usr/bin/time -f "%e s wall, %M KiB peak" \
  "$TRAINER" interest-graph --all-users --data "$WORLD" --provider offline --batch-size 1000

step "the same again: every listener is already done"
/usr/bin/time -f "%e s wall" \
  "$TRAINER" interest-graph --all-users --data "$WORLD" --provider offline --batch-size 1000

step "materialize without and with the stored graphs"
/usr/bin/time -f "%e s wall (no graphs)" \
  "$TRAINER" materialize --data "$WORLD" --models model --feature-version 1 --interest-graphs none
/usr/bin/time -f "%e s wall (graphs from Redis)" \
  "$TRAINER" materialize --data "$WORLD" --models model --feature-version 2 --interest-graphs redis
echo "value size of one user with and without a graph:"
USER_KEY="$(redis-cli -p "$PORT" --scan --pattern 'rsn:v2:user:*' | head -1)"
echo "  with:    $(redis-cli -p "$PORT" STRLEN "$USER_KEY") bytes ($USER_KEY)"
echo "  without: $(redis-cli -p "$PORT" STRLEN "${USER_KEY/rsn:v2:/rsn:v1:}") bytes"
