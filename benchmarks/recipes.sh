#!/usr/bin/env bash
# Issue 10's accuracy benchmark: the paper's recipe against experiment=modern, 3 seeds each, the same
# epochs and the same folder config, summarised as mean ± std over seeds (pointnet-summary).
#
#   bash benchmarks/recipes.sh             # Labeled PSB, 60 epochs: 6 runs, about 30 minutes on 2 quiet cores
#   EXTRA="data.normals=true" bash benchmarks/recipes.sh   # the same with normals as input (README's table)
#   bash benchmarks/recipes.sh psb 24      # other epoch count
#   bash benchmarks/recipes.sh synthetic   # the default synthetic set (the modern recipe must not be worse)
#
# Needs the machine to itself: two CPU jobs at once on 2 cores slow each other about tenfold, and Hydra's
# basic launcher runs the jobs one after the other. Environment: PY (python, default .venv/bin/python),
# ARCHIVE (default ../shared/data/labeled_psb.tar.gz), ROOT (default /tmp/psb/labeled_psb), SWEEP (output dir),
# EXTRA (more overrides for every command, e.g. a smoke test: EXTRA="data.max_per_class=2 data.dense_points=256").
# Nothing here is tuned on test shapes: best.pt is chosen on validation (data.val_fraction of train).
set -euo pipefail
MODE=${1:-psb}
EPOCHS=${2:-60}
PY=${PY:-.venv/bin/python}
SWEEP=${SWEEP:-multirun/recipe_benchmark_${MODE}/$(date +%Y-%m-%d_%H-%M-%S)}
read -ra EXTRA_ARGS <<< "${EXTRA:-}"
case "$MODE" in
  psb)
    ARCHIVE=${ARCHIVE:-../shared/data/labeled_psb.tar.gz}
    ROOT=${ROOT:-/tmp/psb/labeled_psb}
    if [ ! -d "$ROOT" ]; then mkdir -p "$(dirname "$ROOT")" && tar -xzf "$ARCHIVE" -C "$(dirname "$ROOT")"; fi
    DATA=(data=folder "data.root=$ROOT" data.up_axis=y) ;;
  synthetic) DATA=() ;;
  *) echo "usage: $0 [psb|synthetic] [EPOCHS]" >&2; exit 2 ;;
esac
# Both caches first (the paper's 2048 dense points, the modern recipe's 10000), with the up-axis report.
"$PY" -m pointnet.apps.prepare "${DATA[@]}" "${EXTRA_ARGS[@]}"
"$PY" -m pointnet.apps.prepare "${DATA[@]}" data.dense_points=10000 "${EXTRA_ARGS[@]}"  # experiment=modern's cache
"$PY" -m pointnet.apps.train -m experiment=paper,modern seed=0,1,2 "${DATA[@]}" "train.epochs=$EPOCHS" \
  "${EXTRA_ARGS[@]}" "hydra.sweep.dir=$SWEEP"
"$PY" -m pointnet.apps.summary "$SWEEP" --votes 12
echo "summary: $SWEEP/summary.md and $SWEEP/summary.png"
