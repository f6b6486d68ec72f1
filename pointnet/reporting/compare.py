"""Compare the runs of a sweep from their TensorBoard logs: a markdown table and a plot.

``scripts/compare_variants.py multirun/DATE/TIME`` after ``pointnet-train -m experiment=variant_sweep``.
Each job dir holds ``.hydra/config.yaml`` (which variant) and ``tensorboard/`` (what happened); the
table shows accuracy, seconds per epoch and samples/s per variant, and how far each variant's loss
curve is from the first one's (same seed: equal up to float rounding).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pointnet.reporting.figures import save_figure


@dataclass
class RunScalars:
    """One job of a sweep: its variant and every scalar series ``tag -> (steps, values)``."""

    name: str
    variant: str
    series: dict[str, tuple[np.ndarray, np.ndarray]]

    def last(self, tag: str) -> float:
        return float(self.series[tag][1][-1]) if tag in self.series else float("nan")

    def median(self, tag: str) -> float:
        return float(np.median(self.series[tag][1])) if tag in self.series else float("nan")


def read_scalars(log_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All scalar series in a TensorBoard log dir, read with TensorBoard's own reader."""
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    series = {}
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        series[tag] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
    return series


def read_scalars_with_time(log_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """``(wall_time, value)`` of every event of ``tag`` in a TensorBoard log dir (seconds since the epoch)."""
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars(tag) if tag in acc.Tags()["scalars"] else []
    return np.array([e.wall_time for e in events]), np.array([e.value for e in events])


def job_number(config: Path) -> tuple[int, str]:
    """Hydra's job number of a job dir's ``.hydra/config.yaml`` (job dirs are named by their overrides)."""
    hydra = config.with_name("hydra.yaml")
    num = yaml.safe_load(hydra.read_text())["hydra"]["job"].get("num") if hydra.is_file() else None
    return (int(num) if num is not None else 1 << 30, config.parts[-3])


def load_sweep(sweep_dir: str | Path) -> list[RunScalars]:
    """Every job of ``sweep_dir`` that has TensorBoard events, in job order."""
    runs = []
    for config in sorted(Path(sweep_dir).glob("*/.hydra/config.yaml"), key=job_number):
        job = config.parents[1]
        if (job / "tensorboard").is_dir():
            variant = yaml.safe_load(config.read_text())["model"]["shared_mlp"]
            runs.append(RunScalars(job.name, variant, read_scalars(job / "tensorboard")))
    if not runs:
        raise FileNotFoundError(f"no sweep jobs with TensorBoard logs under {sweep_dir}")
    return runs


def curve_gap(a: RunScalars, b: RunScalars, tag: str = "train/step_loss") -> float:
    """Largest absolute difference between two runs' curves over their common steps."""
    if tag not in a.series or tag not in b.series:
        return float("nan")
    steps = np.intersect1d(a.series[tag][0], b.series[tag][0])
    va = a.series[tag][1][np.searchsorted(a.series[tag][0], steps)]
    vb = b.series[tag][1][np.searchsorted(b.series[tag][0], steps)]
    return float(np.abs(va - vb).max()) if len(steps) else float("nan")


def markdown_table(runs: list[RunScalars]) -> str:
    """One row per variant; the last column compares each loss curve with the first run's."""
    head = ("| job | variant | test acc | val acc | final train loss | s/epoch (median) | samples/s (median) "
            f"| max abs loss-curve gap vs {runs[0].variant} |")
    rows = [head, "|" + "---|" * 8]
    for run in runs:
        rows.append(
            f"| {run.name} | {run.variant} | {run.last('test/acc'):.4f} | {run.last('val/acc'):.4f} "
            f"| {run.last('train/loss'):.6f} | {run.median('perf/epoch_seconds'):.2f} "
            f"| {run.median('perf/samples_per_s'):.1f} | {curve_gap(runs[0], run):.2e} |"
        )
    return "\n".join(rows)


def plot(runs: list[RunScalars], path: str | Path) -> Path:
    """Loss curves and validation accuracy of every run, side by side."""
    fig = Figure(figsize=(11, 4), dpi=100)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for run in runs:
        for ax, tag in ((loss_ax, "train/step_loss"), (acc_ax, "val/acc")):
            if tag in run.series:
                ax.plot(*run.series[tag], label=f"{run.name}: {run.variant}", marker="." if ax is acc_ax else None)
    loss_ax.set(title="training loss per step", xlabel="step", ylabel="loss")
    acc_ax.set(title="validation accuracy", xlabel="step", ylabel="accuracy")
    loss_ax.legend(), acc_ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
