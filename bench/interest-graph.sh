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
bench_setup

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
USER_KEY="rsn:v2:user:$(sed -n 2p "$WORLD/events.csv" | cut -d, -f1)"
echo "  with:    $(redis-cli -p "$PORT" STRLEN "$USER_KEY") bytes ($USER_KEY)"
echo "  without: $(redis-cli -p "$PORT" STRLEN "${USER_KEY/rsn:v2:/rsn:v1:}") bytes"
