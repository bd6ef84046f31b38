#!/usr/bin/env bash
# Serves the web demo (web-demo/out, built by scripts/build-web.sh) on 127.0.0.1.
#
# Usage: scripts/web.sh start   serve in the background (WEB_PORT, 3000 by default)
#        scripts/web.sh stop
#        scripts/web.sh status
#
# The page reads the Worker on http://127.0.0.1:8787 (add ?worker=URL to change it) and
# falls back to its bundled snapshot when the Worker does not answer. Logs: build/web.log.
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
PORT="${WEB_PORT:-3000}"
PIDFILE=build/web.pid
mkdir -p build

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "the web demo is already served (pid $(cat "$PIDFILE"))"; exit 0; fi
    [ -f web-demo/out/index.html ] || { echo "error: web-demo/out is missing: run scripts/build-web.sh" >&2; exit 1; }
    need_node_tools
    # The demo's token endpoint signs listener tokens with the local Worker's key (.dev.vars,
    # written by scripts/worker.sh start); without it the page uses the bundled snapshot.
    keys=(); [ -f .dev.vars ] && grep -q '^LISTENER_TOKEN_KEYS=' .dev.vars && keys=(--dev-listener-keys .dev.vars)
    setsid node web-demo/scripts/serve.mjs --port "$PORT" "${keys[@]}" > build/web.log 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 40); do
      if curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then
        echo "the web demo is on http://127.0.0.1:$PORT/"
        exit 0
      fi
      running || { cat build/web.log; echo "error: the server exited" >&2; exit 1; }
      sleep 0.25
    done
    echo "error: the web demo did not answer within 10 s" >&2
    exit 1
    ;;
  stop)
    if running; then kill "$(cat "$PIDFILE")"; fi
    rm -f "$PIDFILE"
    ;;
  status)
    if running; then echo "served on http://127.0.0.1:$PORT/ (pid $(cat "$PIDFILE"))"; else echo "not running"; exit 1; fi
    ;;
  *)
    sed -n '2,9p' "$0"; exit 2
    ;;
esac
