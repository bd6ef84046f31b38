#!/usr/bin/env bash
# The main job, end to end on the bundled synthetic data: generate the synthetic music world,
# print its statistics, train SASRec, evaluate it against the baselines, export the model
# artifact, start the Worker locally (wrangler dev, workerd), build the listeners' interest
# graphs and materialize the feature views with the model into Redis, mirror both to the
# Worker's KV, rerank a sample through it, then build and serve the web demo,
# which reranks in the browser. The Worker keeps running afterwards on http://127.0.0.1:8787
# (`scripts/worker.sh stop`), the web demo on http://127.0.0.1:3000 (`scripts/web.sh stop`).
#
# Usage: scripts/demo.sh            (DATA_DIR=data/synth by default)
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
DATA_DIR="${DATA_DIR:-data/synth}"

need_cargo
prune_build_cache
build_trainer

step "generating the synthetic music world into $DATA_DIR"
"$TRAINER" data synth --out "$DATA_DIR" --force

step "validating $DATA_DIR and printing its statistics"
"$TRAINER" data stats --data "$DATA_DIR"

# The seed's defaults are --epochs 20 --batch-size 256 (about 20 minutes here); smaller batches
# at a higher rate reach a better model in 6 epochs (about 6 minutes on 2 cores).
step "training SASRec (runs/sasrec; the curve is runs/sasrec/training_curve.svg)"
"$TRAINER" train --data "$DATA_DIR" --out runs/sasrec --force --epochs "${EPOCHS:-6}" --batch-size 64 --lr 0.002

step "evaluating on the held-out test interactions"
"$TRAINER" eval --run runs/sasrec

step "exporting the model artifact (model/<version>/, model/CURRENT)"
"$TRAINER" export --run runs/sasrec --models model

step "starting the Worker locally (wrangler dev on 127.0.0.1:${WORKER_PORT:-8787})"
scripts/worker.sh start

step "starting the feature store (redis-server on 127.0.0.1:${REDIS_PORT:-6379})"
scripts/redis.sh start
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}/0}"
export RESONANCE_ADMIN_TOKEN="$(sed -n 's/^ADMIN_TOKEN=//p' .dev.vars)"
export RESONANCE_SERVICE_TOKEN="$(sed -n 's/^SERVICE_TOKEN=//p' .dev.vars)"

step "building every listener's interest graph into Redis (offline unless an LLM key is set)"
"$TRAINER" interest-graph --all-users --data "$DATA_DIR"

step "materializing the feature views, with the interest graphs, into Redis (a new version, switched live with the model whose embeddings it holds)"
"$TRAINER" materialize --data "$DATA_DIR" --models model

step "mirroring the live state (the feature version and its model) from Redis to the Worker's KV"
"$TRAINER" mirror --full --worker "http://127.0.0.1:${WORKER_PORT:-8787}"

step "reranking a sample through the Worker"
"$TRAINER" rerank --data "$DATA_DIR" --worker "http://127.0.0.1:${WORKER_PORT:-8787}"

step "bundling the web demo's offline snapshot (web-demo/public/demo)"
"$TRAINER" snapshot --data "$DATA_DIR" --models model --out web-demo/public/demo --interest-graphs redis

step "building the browser module and the web demo"
scripts/build-web.sh

step "serving the web demo"
scripts/web.sh start

echo
echo "The Worker runs on http://127.0.0.1:${WORKER_PORT:-8787} (scripts/worker.sh stop), and the web demo"
echo "on http://127.0.0.1:${WEB_PORT:-3000}/ (scripts/web.sh stop): it reranks in your browser, on WebGPU"
echo "where the browser has it."
