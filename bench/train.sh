#!/usr/bin/env bash
# Training throughput of SASRec at the product's defaults (d=128, 4 heads, 2 blocks, L=50,
# batch 256) on 2 CPU threads: sequences/s and seconds per epoch from metrics.jsonl, and the
# peak memory of the whole run from /usr/bin/time. Runs EPOCHS epochs (default 2) on the
# synthetic world and on MovieLens-100K. Then the time to quality: MovieLens-100K trained from
# a cold start at the quality settings (batch 64, lr 0.002, up to QUALITY_EPOCHS = 30 epochs,
# early stopping) until validation NDCG@10 (sampled-100) reaches TARGET (0.45): the seconds
# of training (the epochs' wall-clock time, validation included; not the build or data load)
# and epoch it got there, the best epoch, and the run's training_curve.svg, whose right panel
# plots validation NDCG@10 against those seconds. QUALITY=0 skips it (3–6 minutes).
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

[ "${QUALITY:-1}" = 1 ] || exit 0
quality="runs/bench-quality"
"$TRAINER" train --data data/ml-100k-canonical --out "$quality" --force --device cpu --include-skips \
  --batch-size 64 --lr 0.002 --epochs "${QUALITY_EPOCHS:-30}" >/dev/null
python3 - "$quality/metrics.jsonl" "${TARGET:-0.45}" "$quality/training_curve.svg" <<'PY'
import json, sys
metrics, target, curve = sys.argv[1], float(sys.argv[2]), sys.argv[3]
epochs = [json.loads(l) for l in open(metrics)]
elapsed, reached = 0.0, None
for e in epochs:
    elapsed += e["seconds"]
    if reached is None and e["validation_ndcg_at_10"] >= target:
        reached = (e["epoch"], elapsed)
best = max(epochs, key=lambda e: e["validation_ndcg_at_10"])
when = (f"reached at epoch {reached[0]}, after {reached[1]:.0f} s of training from fresh weights" if reached
        else f"not reached in {len(epochs)} epochs")
print(f"ml-100k    validation NDCG@10 {target} {when}; "
      f"best {best['validation_ndcg_at_10']:.4f} (epoch {best['epoch']}), {elapsed:.0f} s in all; plot: {curve}")
PY
