#!/usr/bin/env bash
# What the lifecycle costs at the edge, by view, on the 8,000-listener world: keys and bytes
# written by the first mirror, by each daily one after it (one more day of events: --as-of a
# day later), by a retrain (the model's chunks and embeddings, and a version naming it), keys
# deleted by each clean-up, and the keys the edge holds at the end (five daily cycles and one
# retrain), listed from wrangler's own local KV. The grace period is 0, so each mirror
# deletes what it superseded at once, in layout 3 (the default: values written when they
# change, one key per entity for every version); LAYOUT=2 measures whole versions instead.
#
# Usage: bench/lifecycle.sh   (after scripts/demo.sh: it uses model/ and runs/sasrec; starts
#                             its own redis-server on REDIS_PORT, 6399, and its own Worker on
#                             LIFECYCLE_PORT, 8797, with its own KV in a temporary folder)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
bench_setup
need_node_tools
WPORT="${LIFECYCLE_PORT:-8797}"
LAYOUT="${LAYOUT:-3}"
STATE="$(mktemp -d)"
MODELS="$STATE/model"
cp -r model "$MODELS"
export RESONANCE_ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)"
export RESONANCE_WORKER_URL="http://127.0.0.1:$WPORT"
setsid wrangler dev --ip 127.0.0.1 --port "$WPORT" --persist-to "$STATE/kv" \
  --show-interactive-dev-session=false > "$STATE/dev.log" 2>&1 < /dev/null &
WPID=$!
trap 'kill -- -$WPID 2>/dev/null; redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT
for _ in $(seq 1 120); do curl -fsS "$RESONANCE_WORKER_URL/health" >/dev/null 2>&1 && break; sleep 0.5; done

last="$(tail -n +2 "$WORLD/events.csv" | tail -1 | cut -d, -f3)"
end="$(date -d "$last" +%s)"
bytes_of() { # bytes of keys and values matching a pattern, in Redis
  redis-cli -p "$PORT" EVAL "local s, n = 0, 0 for _, k in ipairs(redis.call('keys', ARGV[1])) do s = s + #k + redis.call('strlen', k) n = n + 1 end return {n, s}" 0 "$1" | paste -sd' '
}
cycle() { # cycle NAME DAYS_BEFORE_END
  "$TRAINER" materialize --data "$WORLD" --models "$MODELS" --as-of "$(( end - $2 * 86400 ))" \
    --layout "$LAYOUT" --json > "$STATE/m.json"
  v="$(node -p "require('$STATE/m.json').version")"
  "$TRAINER" mirror --full --grace 0 --batch-size 1000 --json > "$STATE/s.json"
  mv="$(node -p "require('$STATE/s.json').model.version")"
  read -r ek eb <<< "$(bytes_of "rsn:model:$mv:embedding:*")"
  if [ "$LAYOUT" = 3 ]; then
    node -e "
      const m = require('$STATE/m.json'), s = require('$STATE/s.json');
      console.log('$1'.padEnd(12), 'version', $v, '| materialize wrote', m.keys, 'keys (' + Math.round(m.bytes / 1024), 'KiB): users',
        m.changed.users, 'of', m.users, 'tracks', m.changed.tracks, 'of', m.tracks, '| the mirror wrote', s.features ? s.features.keys : 0, 'feature keys (' + Math.round((s.features ? s.features.bytes : 0) / 1024), 'KiB), model',
        s.model.outcome === 'copied' ? s.model.keys + ' (of which $ek embeddings, $((eb / 1024)) KiB)' : 0,
        '+ listener states', s.states.written, '| deleted', s.collected.keys, 'keys (versions', JSON.stringify(s.collected.versions), 'models', JSON.stringify(s.collected.models) + ')')"
    return
  fi
  read -r uk ub <<< "$(bytes_of "rsn:v$v:user:*")"
  read -r tk tb <<< "$(bytes_of "rsn:v$v:track:*")"
  node -e "
    const s = require('$STATE/s.json'); const m = s.model;
    console.log('$1'.padEnd(12), 'version', $v, '| writes: users $uk ($((ub / 1024)) KiB), tracks $tk ($((tb / 1024)) KiB), meta 1,',
      'model', m.outcome === 'copied' ? m.keys + ' (of which $ek embeddings, $((eb / 1024)) KiB)' : 0, '+ listener states', s.states.written,
      '| total', (s.features ? s.features.keys : 0) + (m.outcome === 'copied' ? m.keys : 0) + s.states.written,
      '| deleted', s.collected.keys, 'keys (versions', JSON.stringify(s.collected.versions), 'models', JSON.stringify(s.collected.models) + ')')"
}

step "five daily cycles, then a retrain, then one more day (8,000 listeners)"
for d in 6 5 4 3 2; do cycle "day $((7 - d))" "$d"; done
"$TRAINER" export --run runs/sasrec --models "$MODELS" --model-version bench-retrain --max-regression 1 >/dev/null
cycle "retrain" 1
cycle "day 7" 0

step "what the edge holds now (wrangler kv key list --local)"
wrangler kv key list --binding FEATURES --local --persist-to "$STATE/kv" > "$STATE/keys.json"
node -e "
  const keys = require('$STATE/keys.json').map(k => k.name); const by = {};
  for (const k of keys) { const m = k.match(/^rsn:(v\d+|model:[^:]+|user|track)/); const g = m ? m[1] : k; by[g] = (by[g] || 0) + 1; }
  console.log(keys.length, 'keys:', JSON.stringify(by));"
"$TRAINER" status --worker "$RESONANCE_WORKER_URL"
