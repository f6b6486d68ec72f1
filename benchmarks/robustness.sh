#!/usr/bin/env bash
# Issue 26's robustness evidence: experiment=paper against experiment=robust, 3 seeds each, on the ModelNet40
# training shapes as a folder data set (its hashed test split: data.test_fraction of every class), then
# pointnet-eval eval.corruptions=all on every run's best.pt (chosen on validation), on the validation shapes and on
# the test split, summarised per recipe as mean ± std over seeds of the clean, mean corrupted and per-kind accuracy
# (SWEEP/robustness_val.md, the one to tune on; SWEEP/robustness.md, test), beside pointnet-summary's clean test
# accuracies (SWEEP/summary.md).
#
#   bash benchmarks/robustness.sh             # 12 epochs: 6 runs, about 2.2 hours on 2 quiet cores by the figures below
#   bash benchmarks/robustness.sh 8           # other epoch count: at 8, each run trained in about 10.5 minutes and
#                                             # its corruption tables took about 5.5 (test) and 2 (validation)
#                                             # (2026-12-06/07, docs/results.md)
#   ROOT=... CACHE=... DENSE=64 SEEDS=0 EXTRA="data.num_points=32" bash benchmarks/robustness.sh 1  # smoke test
#
# Needs the machine to itself (see benchmarks/recipes.sh). Environment: PY (python, default
# .venv/bin/python), ROOT (default /tmp/mn40/modelnet40_train), CACHE (data.cache_dir, default /tmp/mn40cache),
# DENSE (data.dense_points, default 1024: one cache for both recipes, the one the ModelNet40 runs so far built),
# SEEDS (default 0,1,2), SWEEP (output dir), EXTRA (more overrides for every training run).
set -euo pipefail
EPOCHS=${1:-12}
PY=${PY:-.venv/bin/python}
ROOT=${ROOT:-/tmp/mn40/modelnet40_train}
CACHE=${CACHE:-/tmp/mn40cache}
DENSE=${DENSE:-1024}
SEEDS=${SEEDS:-0,1,2}
SWEEP=${SWEEP:-multirun/robustness_benchmark/$(date +%Y-%m-%d_%H-%M-%S)}
read -ra EXTRA_ARGS <<< "${EXTRA:-}"
IFS=, read -ra SEED_LIST <<< "$SEEDS"
for seed in "${SEED_LIST[@]}"; do  # seed by seed, so that a cut-short run still leaves whole pairs to compare
  "$PY" -m pointnet.apps.train -m experiment=paper,robust "seed=$seed" data=folder "data.root=$ROOT" \
    "data.cache_dir=$CACHE" "data.dense_points=$DENSE" "train.epochs=$EPOCHS" "${EXTRA_ARGS[@]}" \
    "hydra.sweep.dir=$SWEEP"
  for job in "$SWEEP"/*/; do  # job dirs hold '=' and ',': quoted for Hydra
    for split in val test; do
      out="${job}$([ "$split" = val ] && echo eval_val_corruptions || echo eval_corruptions)"
      if [ -f "${job}best.pt" ] && [ ! -f "$out/corruptions.json" ]; then
        "$PY" -m pointnet.apps.evaluate "checkpoint='${job}best.pt'" eval.corruptions=all "eval.split=$split" \
          "hydra.run.dir='$out'"
      fi
    done
  done
done
"$PY" -m pointnet.apps.summary "$SWEEP" --votes 0
"$PY" -c "import sys; from pointnet.reporting.corruptions import sweep_report
print('validation:'); print(sweep_report(sys.argv[1], 'eval_val_corruptions', 'robustness_val.md'))
print('test:'); print(sweep_report(sys.argv[1]))" "$SWEEP"
echo "summary: $SWEEP/summary.md, $SWEEP/robustness.md (test), $SWEEP/robustness_val.md (validation: tune there);" \
  "per run: JOB/eval_corruptions/corruptions.{md,png}, JOB/eval_val_corruptions/..."
