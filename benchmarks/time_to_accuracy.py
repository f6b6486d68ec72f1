"""Time to accuracy: validation accuracy against wall-clock minutes, per recipe and budget, over seeds.

Each run is a real ``pointnet-train experiment=RECIPE train.budget_minutes=B`` on a validation split held
out of the training shapes (``data.val_fraction``, validated every epoch; the budget plan counts that
validation, so every run still fits B minutes). A run's curve is its ``val/acc`` events, placed at their
TensorBoard wall time minus the moment the process was started: minutes of the whole command, start-up
and cache included. The bare training step (batch 32 x 1024, conv1d) is timed first, because budgets
hold for a machine whose step runs at 80 samples/s.

    .venv/bin/python -m benchmarks.time_to_accuracy --root /tmp/mn40/modelnet40_train \
        --recipes paper,modern,speedrun --budgets 15,30,60 --seeds 0,1,2 --out docs/time_to_accuracy

Writes ``OUT/table.md`` (final accuracy mean ± std per recipe and budget, and the first minute each
accuracy level was reached), ``OUT/curves.json`` and ``OUT/time_to_accuracy.png``. Runs already finished
in ``OUT/runs`` are read, not repeated. Needs the machine to itself: runs go one after the other.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import ROOT

LEVELS = (0.87, 0.88, 0.89, 0.892, 0.90, 0.907)


def bare_step_samples_per_s(rounds: int = 5) -> float:
    """Median samples/s of the default model's training step (batch 32 x 1024) in this process."""
    from benchmarks.steps import bare_step_rate
    from pointnet.runtime.malloc import tune_malloc
    from pointnet.runtime.threads import set_threads

    tune_malloc()
    set_threads(None)
    return bare_step_rate(32, 1024, rounds)()


def run_one(args: argparse.Namespace, recipe: str, budget: float, seed: int) -> Path:
    """Train one run (unless its ``metrics.json`` exists); its ``launch.json`` records when it started."""
    run_dir = args.out / "runs" / f"{recipe}-{budget:g}min-seed{seed}"
    if (run_dir / "metrics.json").is_file():
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).parent / "pointnet-train"), f"experiment={recipe}",
               f"train.budget_minutes={budget:g}", f"seed={seed}", "data=folder", f"data.root={args.root}",
               f"data.val_fraction={args.val_fraction}", "train.val_every=1", f"hydra.run.dir={run_dir}",
               *args.override]
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    (run_dir / "launch.json").write_text(json.dumps({"command": command, "started": started,
                                                     "seconds": time.time() - started}))
    return run_dir


def curve(run_dir: Path) -> dict:
    """``minutes`` and ``val_acc`` of each validation, the run's wall time and its final accuracy."""
    from pointnet.reporting.compare import read_scalars_with_time

    launch = json.loads((run_dir / "launch.json").read_text())
    walls, values = read_scalars_with_time(run_dir / "tensorboard", "val/acc")
    return {"minutes": [(w - launch["started"]) / 60 for w in walls], "val_acc": list(values),
            "wall_minutes": launch["seconds"] / 60, "final": float(values[-1]) if len(values) else float("nan"),
            "epochs": len(values)}


def first_minute(c: dict, level: float) -> float | None:
    return next((m for m, a in zip(c["minutes"], c["val_acc"], strict=True) if a >= level), None)


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def table(curves: dict[tuple[str, float], list[dict]], step: float) -> str:
    head = ["recipe", "budget (min)", "runs", "epochs", "wall (min)", "final val acc (%)",
            *[f"first min >= {100 * level:g}%" for level in LEVELS]]
    lines = [f"Bare training step (batch 32 x 1024, conv1d): {step:.1f} samples/s on this machine.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (recipe, budget), runs in sorted(curves.items()):
        firsts = []
        for level in LEVELS:
            reached = [m for m in (first_minute(c, level) for c in runs) if m is not None]
            firsts.append(f"{statistics.median(reached):.1f} ({len(reached)}/{len(runs)})" if reached else "-")
        lines.append(f"| {recipe} | {budget:g} | {len(runs)} | {runs[0]['epochs']} | "
                     f"{statistics.median(c['wall_minutes'] for c in runs):.1f} | "
                     f"{mean_std([c['final'] for c in runs])} | " + " | ".join(firsts) + " |")
    return "\n".join(lines) + "\n"


def plot(curves: dict[tuple[str, float], list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5))
    colours: dict[str, str] = {}
    for (recipe, budget), runs in sorted(curves.items()):
        colour = colours.setdefault(recipe, f"C{len(colours)}")
        for i, c in enumerate(runs):
            ax.plot(c["minutes"], [100 * a for a in c["val_acc"]], color=colour, alpha=0.8, marker=".",
                    label=recipe if i == 0 and budget == min(b for r, b in curves if r == recipe) else None)
    ax.set_xlabel("minutes of the whole command")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="data=folder root of the training shapes")
    parser.add_argument("--recipes", default="paper,modern,speedrun", type=lambda s: s.split(","))
    parser.add_argument("--budgets", default="15,30,60", type=lambda s: [float(b) for b in s.split(",")])
    parser.add_argument("--seeds", default="0,1,2", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("outputs/time_to_accuracy"))
    parser.add_argument("--override", action="append", default=[], help="one more override for every run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    step = bare_step_samples_per_s()
    print(f"bare training step: {step:.1f} samples/s", flush=True)
    curves: dict[tuple[str, float], list[dict]] = {}
    for budget in args.budgets:
        for recipe in args.recipes:
            for seed in args.seeds:
                curves.setdefault((recipe, budget), []).append(curve(run_one(args, recipe, budget, seed)))
    (args.out / "curves.json").write_text(json.dumps(
        {"bare_step_samples_per_s": step, "runs": [{"recipe": r, "budget": b, **c}
                                                    for (r, b), cs in curves.items() for c in cs]}, indent=1))
    text = table(curves, step)
    (args.out / "table.md").write_text(text)
    plot(curves, args.out / "time_to_accuracy.png")
    print(text)


if __name__ == "__main__":
    main()
