#!/usr/bin/env bash
# Runs the Worker locally in workerd through `wrangler dev`, on 127.0.0.1 only.
#
# Usage: scripts/worker.sh start   build, start in the background, wait until /health answers
#        scripts/worker.sh stop
#        scripts/worker.sh status
#
# WORKER_PORT (8787) picks the port. The Worker's secrets live in .dev.vars (git-ignored; each
# created at random when missing): ADMIN_TOKEN (`trainer mirror` and `daily` read it from
# RESONANCE_ADMIN_TOKEN), SERVICE_TOKEN (`trainer rerank`: RESONANCE_SERVICE_TOKEN) and
# LISTENER_TOKEN_KEYS (the web demo's token endpoint signs with it: scripts/web.sh).
# Logs: .wrangler/dev.log. KV data persists in .wrangler/state between starts.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
PORT="${WORKER_PORT:-8787}"
PIDFILE=.wrangler/dev.pid
mkdir -p .wrangler

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "the Worker is already running (pid $(cat "$PIDFILE"))"; exit 0; fi
    "$REPO_ROOT/scripts/build-worker.sh"
    need_node_tools
    random() { head -c "$1" /dev/urandom | base64 | tr -d '/+=\n'; }
    touch .dev.vars
    grep -q '^ADMIN_TOKEN=' .dev.vars || echo "ADMIN_TOKEN=$(random 24)" >> .dev.vars
    grep -q '^SERVICE_TOKEN=' .dev.vars || echo "SERVICE_TOKEN=$(random 24)" >> .dev.vars
    grep -q '^LISTENER_TOKEN_KEYS=' .dev.vars ||
      echo "LISTENER_TOKEN_KEYS='{\"dev-1\": \"$(random 48)\"}'" >> .dev.vars
    step "starting the Worker on http://127.0.0.1:$PORT (wrangler dev, logs in .wrangler/dev.log)"
    # Local KV shows an overwritten key at once: no settle (wrangler.toml's 150 s wait out
    # Cloudflare's propagation, which `wrangler dev` does not have).
    setsid wrangler dev --ip 127.0.0.1 --port "$PORT" --persist-to .wrangler/state \
      --var SETTLE_SECONDS:0 \
      --show-interactive-dev-session=false > .wrangler/dev.log 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 120); do
      if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then
        curl -fsS "http://127.0.0.1:$PORT/health"; echo
        exit 0
      fi
      running || { cat .wrangler/dev.log; echo "error: wrangler dev exited" >&2; exit 1; }
      sleep 0.5
    done
    cat .wrangler/dev.log
    echo "error: the Worker did not answer /health within 60 s" >&2
    exit 1
    ;;
  stop)
    if running; then kill -- "-$(cat "$PIDFILE")" 2>/dev/null || kill "$(cat "$PIDFILE")"; fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running; then curl -fsS "http://127.0.0.1:$PORT/health"; echo; else echo "not running"; exit 1; fi
    ;;
  *)
    sed -n '2,10p' "$0"; exit 2
    ;;
esac
