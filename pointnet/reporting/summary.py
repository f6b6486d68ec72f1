"""Evidence from a multirun: mean ± std over seeds, per recipe, as a markdown table and a plot.

A Hydra multirun (``pointnet-train -m experiment=paper,modern seed=0,1,2 ...``) writes one job dir
per combination, each with ``.hydra/overrides.yaml`` (what the job was asked for) and, when it
finished, ``metrics.json``. A job's *recipe* is its overrides that vary across the sweep, the seed
left out; jobs of one recipe are aggregated over their seeds. Nothing is ever reported as a single
best run.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from matplotlib.figure import Figure

from pointnet.reporting.figures import save_figure

METRICS: dict[str, str] = {
    "test/acc": "last-epoch test acc",
    "test/best_acc": "test acc, checkpoint chosen on val",
    "test/best_mean_class_acc": "mean class acc (chosen on val)",
    "test/vote_acc": "voting acc (chosen on val)",
}
"""The summarised metrics (keys of a job's metrics, with ``test/vote_acc`` added by the summary) and their labels."""


@dataclass
class Job:
    """One finished job of a sweep: its dir, its overrides as ``key -> value``, its metrics."""

    path: Path
    overrides: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def seed(self) -> str:
        return self.overrides.get("seed", "0")


def read_overrides(job: Path) -> dict[str, str]:
    """``.hydra/overrides.yaml`` of a job as ``key -> value`` (``+``/``~`` prefixes dropped)."""
    lines = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    return dict(line.lstrip("+~").split("=", 1) for line in lines if "=" in line)


def read_jobs(sweep_dir: str | Path) -> tuple[list[Job], list[Path]]:
    """Finished jobs (with ``metrics.json``) in job order, and the job dirs that have none."""
    jobs, unfinished = [], []
    dirs = sorted((p.parents[1] for p in Path(sweep_dir).glob("*/.hydra/overrides.yaml")),
                  key=lambda p: (len(p.name), p.name))
    for job in dirs:
        metrics = job / "metrics.json"
        if not metrics.is_file():
            unfinished.append(job)
            continue
        values = json.loads(metrics.read_text())
        jobs.append(Job(job, read_overrides(job), {k: float(values[k]) for k in METRICS if k in values}))
    if not jobs:
        raise FileNotFoundError(f"no finished job (a job dir with .hydra/overrides.yaml and metrics.json) "
                                f"under {sweep_dir}")
    return jobs, unfinished


def recipe_of(job: Job, jobs: list[Job]) -> str:
    """The overrides of ``job`` that vary across ``jobs``, seed excluded (``"all"`` if none vary)."""
    keys = sorted({k for j in jobs for k in j.overrides} - {"seed"})
    varying = [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]
    return " ".join(f"{k}={job.overrides.get(k, '(default)')}" for k in varying) or "all"


def aggregate(jobs: list[Job]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """``recipe -> metric -> (mean, std over seeds (ddof 1; 0 for one run), runs)``, recipes in first-seen order."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(recipe_of(job, jobs), []).append(job)
    table: dict[str, dict[str, tuple[float, float, int]]] = {}
    for recipe, members in groups.items():
        table[recipe] = {}
        for metric in METRICS:
            values = np.array([j.metrics[metric] for j in members if metric in j.metrics])
            if len(values):
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                table[recipe][metric] = (float(values.mean()), std, len(values))
    return table


def markdown(table: dict[str, dict[str, tuple[float, float, int]]], votes: int) -> str:
    """One row per recipe: runs, then each metric as ``mean ± std`` in percent."""
    labels = [METRICS[m] if m != "test/vote_acc" else f"{METRICS[m]}, {votes} views" for m in METRICS]
    rows = ["| recipe | runs | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(METRICS)]
    for recipe, values in table.items():
        runs = max((n for _, _, n in values.values()), default=0)
        cells = [f"{100 * values[m][0]:.1f} ± {100 * values[m][1]:.1f}" if m in values else "n/a" for m in METRICS]
        rows.append(f"| {recipe} | {runs} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def summary_figure(table: dict[str, dict[str, tuple[float, float, int]]]) -> Figure:
    """Grouped bars per metric, one bar per recipe, error bars one standard deviation over seeds."""
    fig = Figure(figsize=(10, 4.5), dpi=100)
    ax = fig.subplots()
    width = 0.8 / max(len(table), 1)
    x = np.arange(len(METRICS))
    for i, (recipe, values) in enumerate(table.items()):
        means = [100 * values[m][0] if m in values else np.nan for m in METRICS]
        stds = [100 * values[m][1] if m in values else 0.0 for m in METRICS]
        ax.bar(x + (i - (len(table) - 1) / 2) * width, means, width, yerr=stds, capsize=4, label=recipe)
    ax.set_xticks(x, [METRICS[m] for m in METRICS], fontsize=8)
    ax.set_ylabel("accuracy (%), mean ± std over seeds")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_summary(jobs: list[Job], out_dir: str | Path, votes: int, unfinished: Sequence[Path] = ()) -> str:
    """Write ``summary.md``, ``summary.png`` and ``summary.json`` into ``out_dir``; returns the markdown."""
    out_dir = Path(out_dir)
    table = aggregate(jobs)
    text = markdown(table, votes)
    if unfinished:
        text += "\n\nNot counted (no metrics.json: failed or unfinished): " + ", ".join(p.name for p in unfinished)
    (out_dir / "summary.md").write_text(text + "\n")
    save_figure(summary_figure(table), out_dir / "summary.png")
    per_job = [{"job": j.path.name, "recipe": recipe_of(j, jobs), "seed": j.seed, **j.metrics} for j in jobs]
    (out_dir / "summary.json").write_text(json.dumps({"votes": votes, "recipes": table, "jobs": per_job}, indent=2))
    return text
