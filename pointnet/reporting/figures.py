"""Figures as ``matplotlib.figure.Figure`` objects, drawn without pyplot.

No pyplot state and no backend switch: importing this leaves a notebook's backend as it was, and
``Figure.savefig`` renders with Agg on its own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap
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
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=label_size,
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


VIEW_DEGREES = 35.0  # a three-quarter side view: a chair's seat, back and legs all show
DEPTH_COLORS = LinearSegmentedColormap.from_list("depth", ["#1b2f5b", "#a9bfe0"])  # near dark, far light


def side_view(points: np.ndarray, up: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(P, 3)`` points seen from the side with axis ``up`` (0..2) pointing up: ``(across, height, depth)``.

    The camera looks along the horizontal direction ``VIEW_DEGREES`` off the next axis after ``up``,
    so flat parts facing an axis are not seen edge-on.
    """
    u, v = points[:, (up + 1) % 3], points[:, (up + 2) % 3]
    angle = np.radians(VIEW_DEGREES)
    return np.cos(angle) * u + np.sin(angle) * v, points[:, up], np.cos(angle) * v - np.sin(angle) * u


def up_axis_figure(shapes: list[tuple[str, list[np.ndarray]]], configured: str, found: str | None,
                   points: int = 500) -> Figure:
    """A few shapes per class (rows), each drawn with x, y and z up (column groups), side view.

    ``shapes``: ``(class name, [(P, 3) clouds in the files' own axes])``. The right column group shows
    the shapes standing; ``configured`` (``data.up_axis``) and ``found`` (the statistic's axis, ``None``
    when unsure) are named over their groups, the found one tinted. At most ``MAX_INCHES`` square.
    """
    per_class = max((len(clouds) for _, clouds in shapes), default=1)
    rows, cols = max(len(shapes), 1), 3 * per_class
    cell = min(1.25, (MAX_INCHES - 0.7) / max(rows, cols))  # inches a panel, margins for labels and titles
    fig = Figure(figsize=(cols * cell + 0.6, rows * cell + 0.7), dpi=100)
    grid = fig.subplots(rows, cols, squeeze=False)
    for (_, col), ax in np.ndenumerate(grid):
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_facecolor("#e3f1e3" if "xyz"[col // per_class] == found else "#f4f4f4")
        for spine in ax.spines.values():
            spine.set_visible(False)
    for row, (name, clouds) in enumerate(shapes):
        grid[row, 0].set_ylabel(name, fontsize=8)
        for up in range(3):
            for k, cloud in enumerate(clouds):
                _draw_side(grid[row, up * per_class + k], cloud[:: max(1, len(cloud) // points)], up)
    for up, name in enumerate("xyz"):
        notes = [note for note, axis in (("data.up_axis", configured), ("found", found)) if axis == name]
        title = f"{name} up" + (f" ({', '.join(notes)})" if notes else "")
        grid[0, up * per_class].set_title(title, fontsize=9, loc="left", color="black" if notes else "dimgray")
    fig.suptitle("which way is up? each shape drawn with x, y and z up", fontsize=10)
    fig.tight_layout()
    return fig


def _draw_side(ax, cloud: np.ndarray, up: int) -> None:
    across, height, depth = side_view(cloud, up)
    order = np.argsort(-depth)  # far points first, near ones drawn over them
    ax.scatter(across[order], height[order], c=depth[order], cmap=DEPTH_COLORS, s=1.5, linewidths=0,
               antialiased=False)  # crisp dots: a third of the PNG's size
