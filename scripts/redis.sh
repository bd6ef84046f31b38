#!/usr/bin/env bash
# Runs the feature store's Redis locally (Debian's redis-server), on 127.0.0.1 only.
#
# Usage: scripts/redis.sh start | stop | status
#
# REDIS_PORT (6379) picks the port; data and logs live in .redis/ (git-ignored), persisted
# with an append-only file. Point the trainer elsewhere with REDIS_URL.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
PORT="${REDIS_PORT:-6379}"
mkdir -p .redis

# PONG only: a Redis still loading its append-only file answers PING with an error.
running() { [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = "PONG" ]; }

case "${1:-}" in
  start)
    need_redis
    if running; then echo "Redis already answers on 127.0.0.1:$PORT"; exit 0; fi
    redis-server --port "$PORT" --bind 127.0.0.1 --dir "$REPO_ROOT/.redis" \
      --daemonize yes --pidfile "$REPO_ROOT/.redis/redis.pid" --logfile "$REPO_ROOT/.redis/redis.log" \
      --appendonly yes --save ""
    for _ in $(seq 1 240); do
      if running; then echo "Redis is on redis://127.0.0.1:$PORT/0"; exit 0; fi
      sleep 0.25
    done
    tail -20 .redis/redis.log; echo "error: redis-server did not answer PONG within 60 s" >&2; exit 1
    ;;
  stop)
    if running; then redis-cli -p "$PORT" shutdown >/dev/null 2>&1 || true; fi
    ;;
  status)
    if running; then echo "Redis answers on 127.0.0.1:$PORT ($(redis-cli -p "$PORT" dbsize) keys, live version $(redis-cli -p "$PORT" get rsn:current))"; else echo "not running"; exit 1; fi
    ;;
  *)
    sed -n '2,7p' "$0"; exit 2
    ;;
esac
