"""``pointnet-benchmark --epoch-data ROOT``: one real training epoch of each recipe next to the bare step.

Each recipe trains one epoch through ``pointnet-train`` in its own process, so everything a run does
is in it: per-cloud augmentation, the loss with label smoothing, clipping, the weight average, logging,
the thread governor and the checkpoint write. It reads ``data=folder data.root=ROOT``, trains on every
shape (``data.val_fraction=0``) at ``data.num_points`` from the first step (``train.early_points=0``), and
its ``perf/samples_per_s`` is set against the bare step (the default model's training step on random
clouds, the table's ``conv1d/fast`` row) timed in this process just before and after it, at the
same batch and point count.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

EPOCH_RECIPES = ("paper", "modern", "speedrun")


def add_epoch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epoch-data", type=Path, default=None,
                        help="a data=folder root: time one real training epoch of each --epoch-recipes on it")
    parser.add_argument("--epoch-recipes", default=",".join(EPOCH_RECIPES),
                        type=lambda s: [v for v in s.split(",") if v])
    parser.add_argument("--epoch-override", action="append", default=[],
                        help="one more pointnet-train override for the epoch runs (e.g. data.max_per_class=50)")


def train_one_epoch_process(args: argparse.Namespace, recipe: str, run_dir: Path) -> dict:
    """The first history row of a one-epoch ``pointnet-train`` of ``recipe``."""
    command = [sys.executable, "-m", "pointnet.apps.train", f"experiment={recipe}", "data=folder",
               f"data.root={args.epoch_data}", "data.val_fraction=0", "train.epochs=1", "train.budget_minutes=null",
               "train.early_points=0", "scheduler.warmup_epochs=0", f"train.batch_size={args.batch_size}",
               f"data.num_points={args.points}", f"hydra.run.dir={run_dir}", *args.epoch_override]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads((run_dir / "metrics.json").read_text())["history"][0]


def epoch_rows(args: argparse.Namespace, bare_step: Callable[[], float], log: Callable[[str], None]) -> list[dict]:
    """Per recipe: the real epoch's samples/s, the bare step's around it, their ratio, the data share."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.epoch_recipes:
            log(f"epoch: one real epoch of experiment={recipe} on {args.epoch_data}")
            before = bare_step()
            row = train_one_epoch_process(args, recipe, Path(tmp) / recipe)
            bare = statistics.mean([before, bare_step()])
            rows.append({"recipe": recipe, "epoch_samples_per_s": row["perf/samples_per_s"],
                         "bare_step_samples_per_s": bare, "ratio": row["perf/samples_per_s"] / bare,
                         "epoch_seconds": row["perf/epoch_seconds"], "data_share": row["perf/data_share"]})
    return rows


def epoch_table(rows: list[dict], batch: int, points: int) -> str:
    lines = [f"real training epochs (pointnet-train, every shape once, batch {batch} x {points}) against the bare "
             "step timed around each:",
             f"{'recipe':10} {'epoch/s':>8} {'step/s':>8} {'ratio':>6} {'epoch s':>8} {'data':>6}"]
    lines += [f"{r['recipe']:10} {r['epoch_samples_per_s']:8.1f} {r['bare_step_samples_per_s']:8.1f} "
              f"{r['ratio']:6.2f} {r['epoch_seconds']:8.1f} {100 * r['data_share']:5.1f}%" for r in rows]
    return "\n".join(lines)
