#!/usr/bin/env bash
# Training throughput of SASRec at the product's defaults (d=128, 4 heads, 2 blocks, L=50,
# batch 256) on 2 CPU threads: sequences/s and seconds per epoch from metrics.jsonl, and the
# peak memory of the whole run from /usr/bin/time. Runs EPOCHS epochs (default 2) on the
# synthetic world and on MovieLens-100K.
#
# Usage: bench/train.sh        (needs data/synth from scripts/demo.sh; fetches MovieLens)
source "$(dirname "$0")/../scripts/common.sh"
cd "$REPO_ROOT"
EPOCHS="${EPOCHS:-2}"
export RAYON_NUM_THREADS=2
need_cargo
build_trainer
[ -f data/synth/events.csv ] || "$TRAINER" data synth --out data/synth
scripts/fetch-movielens.sh >/dev/null
[ -f data/ml-100k-canonical/events.csv ] || "$TRAINER" data import --format recbole \
  --events data/ml-100k/ml-100k.inter --catalogue data/ml-100k/ml-100k.item --out data/ml-100k-canonical

bench_one() {
  local name=$1 data=$2; shift 2
  local out="runs/bench-$name"
  /usr/bin/time -v "$TRAINER" train --data "$data" --out "$out" --force --device cpu \
    --epochs "$EPOCHS" --patience "$EPOCHS" "$@" 2> "$out.time.log" >/dev/null || { cat "$out.time.log"; exit 1; }
  python3 - "$name" "$out/metrics.jsonl" "$out.time.log" <<'PY'
import json, re, sys
name, metrics, timelog = sys.argv[1:]
epochs = [json.loads(l) for l in open(metrics)]
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(timelog).read()).group(1))
sps = sum(e["sequences_per_second"] for e in epochs) / len(epochs)
sec = sum(e["seconds"] for e in epochs) / len(epochs)
print(f"{name:<10} {sps:8.0f} sequences/s   {sec:6.1f} s/epoch (incl. validation)   peak RSS {rss/1024:6.0f} MiB")
PY
}
if ! command -v /usr/bin/time >/dev/null; then echo "install GNU time (apt-get install time)"; exit 1; fi
bench_one synth data/synth
bench_one ml-100k data/ml-100k-canonical --include-skips
