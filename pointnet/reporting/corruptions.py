"""The corruption report: accuracy per ModelNet-C kind and severity, its means and the drop from clean.

``corruption_summary`` turns the confusion matrices of ``pointnet.training.robustness`` into plain
numbers (the JSON); ``corruption_markdown``, ``corruption_figure`` and ``corruption_scalars`` render
them as a Markdown table, accuracy-vs-severity lines and TensorBoard scalars. The mean corrupted
accuracy is the plain mean over every evaluated kind and severity; ModelNet-C's own headline, mCE,
divides each kind's error by DGCNN's, which this project does not have, so it is not given.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pointnet.data.pipeline.corruptions import SEVERITIES
from pointnet.reporting.summary import read_jobs, recipe_of
from pointnet.training.metrics import ConfusionMatrix

SOURCE = "ModelNet-C (Ren, Pan, Liu, ICML 2022)"


def corruption_summary(clean: ConfusionMatrix, corrupted: Mapping[str, Sequence[ConfusionMatrix]],
                       seed: int) -> dict[str, Any]:
    """Plain numbers: clean accuracy, per kind the accuracy at each severity, its mean and drop; overall means."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind, confusions in corrupted.items():
        accuracies = [cm.accuracy for cm in confusions]
        mean = sum(accuracies) / len(accuracies)
        kinds[kind] = {"acc": accuracies, "mean_acc": mean, "drop": clean.accuracy - mean}
    every = [acc for entry in kinds.values() for acc in entry["acc"]]
    mean_acc = sum(every) / len(every) if every else float("nan")
    return {"source": SOURCE, "seed": seed, "shapes": clean.total, "severities": list(SEVERITIES),
            "clean_acc": clean.accuracy, "mean_acc": mean_acc, "mean_drop": clean.accuracy - mean_acc, "kinds": kinds}


def _points(value: float) -> str:
    return f"{100 * value:.1f}"


def corruption_markdown(summary: Mapping[str, Any]) -> str:
    """A Markdown table, one row per kind: accuracy (%) at severities 1..5, mean, drop from clean (points)."""
    severities = summary["severities"]
    lines = [f"Accuracy (%) under the corruptions of {SOURCE}, {summary['shapes']} shapes, corruption seed "
             f"{summary['seed']}; clean accuracy **{_points(summary['clean_acc'])}**; drop: clean minus mean, in "
             "points.", "",
             "| corruption | " + " | ".join(f"severity {s}" for s in severities) + " | mean | drop |",
             "|---|" + "---:|" * (len(severities) + 2)]
    for kind, entry in summary["kinds"].items():
        cells = " | ".join(_points(acc) for acc in entry["acc"])
        lines.append(f"| {kind} | {cells} | {_points(entry['mean_acc'])} | {_points(entry['drop'])} |")
    blank = " | ".join("" for _ in severities)
    lines.append(f"| **mean corrupted accuracy** | {blank} | **{_points(summary['mean_acc'])}** | "
                 f"**{_points(summary['mean_drop'])}** |")
    return "\n".join(lines) + "\n"


def corruption_figure(summary: Mapping[str, Any]) -> Figure:
    """Accuracy (%) against severity, one line per kind, clean accuracy as a dashed line."""
    fig = Figure(figsize=(8.0, 4.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    severities = summary["severities"]
    for kind, entry in summary["kinds"].items():
        ax.plot(severities, [100 * acc for acc in entry["acc"]], marker="o", label=kind)
    ax.axhline(100 * summary["clean_acc"], color="black", linestyle="--", label="clean")
    ax.set_xticks(severities)
    ax.set_xlabel("severity"), ax.set_ylabel("accuracy (%)"), ax.set_ylim(0, 100)
    ax.set_title(f"accuracy under corruption: mean {_points(summary['mean_acc'])}, clean "
                 f"{_points(summary['clean_acc'])}", fontsize=11)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    return fig


def corruption_scalars(summary: Mapping[str, Any]) -> dict[str, float]:
    """``corruption/KIND/severity_S``, ``corruption/KIND/mean`` and the overall ``corruption/{clean_acc,
    mean_acc,mean_drop}``, for TensorBoard."""
    values = {f"corruption/{key}": float(summary[key]) for key in ("clean_acc", "mean_acc", "mean_drop")}
    for kind, entry in summary["kinds"].items():
        values.update({f"corruption/{kind}/severity_{s}": float(acc)
                       for s, acc in zip(summary["severities"], entry["acc"], strict=True)})
        values[f"corruption/{kind}/mean"] = float(entry["mean_acc"])
    return values


def card_facts(summary: Mapping[str, Any], table: str) -> dict[str, Any]:
    """What the model card keeps of a corruption evaluation: the means and where the table is."""
    return {"mean_acc": summary["mean_acc"], "clean_acc": summary["clean_acc"], "mean_drop": summary["mean_drop"],
            "kinds": list(summary["kinds"]), "seed": summary["seed"], "table": table}


def _spread(values: Sequence[float]) -> str:
    """``mean ± std`` in percent (std over runs, ddof 1; 0 for one run)."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{100 * float(np.mean(values)):.1f} ± {100 * std:.1f}"


def sweep_markdown(groups: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """One row per recipe from its runs' ``corruption_summary``s: runs, then mean ± std over runs (%) of the
    clean accuracy, the mean corrupted accuracy, the drop and each kind's mean accuracy."""
    kinds = list(dict.fromkeys(k for runs in groups.values() for run in runs for k in run["kinds"]))
    rows = ["| recipe | runs | clean | mean corrupted | drop | " + " | ".join(kinds) + " |",
            "|---|---:|" + "---:|" * (3 + len(kinds))]
    for recipe, runs in groups.items():
        cells = [_spread([run[key] for run in runs]) for key in ("clean_acc", "mean_acc", "mean_drop")]
        cells += [_spread([run["kinds"][k]["mean_acc"] for run in runs if k in run["kinds"]]) for k in kinds]
        rows.append(f"| {recipe} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def sweep_report(sweep_dir: str | Path, eval_dir: str = "eval_corruptions", out_name: str = "robustness.md") -> str:
    """``sweep_markdown`` of a multirun whose jobs hold ``JOB/<eval_dir>/corruptions.json``, recipes as
    ``pointnet-summary`` names them; also written to ``SWEEP/<out_name>``. Jobs without one are left out."""
    jobs, _ = read_jobs(sweep_dir)
    groups: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        found = job.path / eval_dir / "corruptions.json"
        if found.is_file():
            groups.setdefault(recipe_of(job, jobs), []).append(json.loads(found.read_text()))
    if not groups:
        raise FileNotFoundError(f"no {eval_dir}/corruptions.json in any finished job under {sweep_dir}")
    text = sweep_markdown(groups)
    (Path(sweep_dir) / out_name).write_text(text)
    return text
