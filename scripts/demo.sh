#!/usr/bin/env bash
# The main job, end to end on the bundled synthetic data. Today: generate the synthetic music
# world and print its statistics. Later stages (train, export, materialize, mirror, serve,
# rerank) join here as they land.
#
# Usage: scripts/demo.sh            (DATA_DIR=data/synth by default)
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT"
DATA_DIR="${DATA_DIR:-data/synth}"

need_cargo
build_trainer

step "generating the synthetic music world into $DATA_DIR"
"$TRAINER" data synth --out "$DATA_DIR" --force

step "validating $DATA_DIR and printing its statistics"
"$TRAINER" data stats --data "$DATA_DIR"
