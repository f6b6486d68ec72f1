"""Figures as ``matplotlib.figure.Figure`` objects, drawn without pyplot.

No pyplot state and no backend switch: importing this leaves a notebook's backend as it was, and
``Figure.savefig`` renders with Agg on its own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure


def confusion_figure(matrix: torch.Tensor, classes: list[str], title: str = "confusion matrix") -> Figure:
    """A ``K x K`` count matrix (rows: true class, columns: predicted) as a labelled heat map."""
    k = len(classes)
    size = max(4.0, 0.45 * k + 2)
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.subplots()
    counts = matrix.cpu().numpy()
    rows = counts.sum(axis=1, keepdims=True)
    ax.imshow(counts / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title)
    if k <= 20:
        for i, j in np.ndindex(k, k):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > 0.5 * rows[i, 0] else "black")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a figure to an image file (the Agg renderer, whatever pyplot's backend is)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
