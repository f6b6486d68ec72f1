"""Figures as ``matplotlib.figure.Figure`` objects, drawn without pyplot.

No pyplot state and no backend switch: importing this leaves a notebook's backend as it was, and
``Figure.savefig`` renders with Agg on its own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure


MAX_INCHES = 8.0  # 800 px at 100 dpi: TensorBoard's image card shows it without shrinking the labels away


def confusion_figure(matrix: torch.Tensor, classes: list[str], title: str = "confusion matrix") -> Figure:
    """A ``K x K`` count matrix (rows: true class, columns: predicted) as a labelled heat map.

    At most ``MAX_INCHES`` square: label and count fonts shrink with the class count instead of the
    figure growing past what TensorBoard displays; counts are written up to 20 classes.
    """
    k = len(classes)
    size = min(MAX_INCHES, max(4.5, 0.3 * k + 2.5))
    label_size = max(5.0, min(9.0, 260 / max(k, 1) / 1.5))
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.subplots()
    counts = matrix.cpu().numpy()
    rows = counts.sum(axis=1, keepdims=True)
    ax.imshow(counts / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=90, fontsize=label_size)
    ax.set_yticks(range(k), classes, fontsize=label_size)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title, fontsize=11)
    if k <= 20:
        for i, j in np.ndindex(k, k):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=label_size,
                        color="white" if counts[i, j] > 0.5 * rows[i, 0] else "black")
    fig.tight_layout()
    return fig


def confusion_title(split: str, accuracy: float, epoch: int | None = None) -> str:
    """``"val confusion, epoch 5: accuracy 0.812"`` (no epoch for a checkpoint's evaluation)."""
    when = f", epoch {epoch}" if epoch is not None else ""
    return f"{split} confusion{when}: accuracy {accuracy:.3f}"


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a figure to an image file (the Agg renderer, whatever pyplot's backend is)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
