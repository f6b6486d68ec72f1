"""Which way is up: the tallest axis of each shape, per class, against the configured ``up_axis``.

Prepared clouds are z up for the configured source axis (:mod:`pointnet.data.sampling`). Most upright
objects (chairs, lamps, bottles, people) are taller than they are deep, so when most shapes of a data
set are tallest along another source axis, ``data.up_axis`` is probably wrong, and rotation
augmentation "about the up axis" then spins them about a horizontal axis. Wide classes (tables,
beds, sofas) are tallest sideways whatever the axis, so this is a report and a warning, never a
decision.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from pointnet.data.pointset import PointSet
from pointnet.data.sampling import source_axis


def tallest_axes(point_set: PointSet, up_axis: str) -> list[str]:
    """Per shape, the source axis (``"x"``, ``"y"``, ``"z"``) along which its ``(P, 3)`` points extend most."""
    if len(point_set) == 0:
        return []
    xyz = np.asarray(point_set.points[:, :, :3])
    extents = xyz.max(axis=1) - xyz.min(axis=1)  # (M, 3), z-up frame
    return [source_axis(int(axis), up_axis) for axis in extents.argmax(axis=1)]


def up_axis_report(point_set: PointSet, up_axis: str) -> str:
    """One line per class: its most common tallest axis and for how many of its shapes."""
    axes = tallest_axes(point_set, up_axis)
    labels = np.asarray(point_set.labels)
    width = max((len(name) for name in point_set.classes), default=0)
    lines = [f"tallest axis per class (data.up_axis={up_axis}):"]
    for label, name in enumerate(point_set.classes):
        counts = Counter(axis for axis, own in zip(axes, labels) if own == label)
        if counts:
            axis, count = counts.most_common(1)[0]
            lines.append(f"  {name:<{width}}  {axis} for {count} of {sum(counts.values())} shapes")
    return "\n".join(lines)


def up_axis_warning(point_sets: list[PointSet], up_axis: str, rotate: bool) -> str | None:
    """A warning naming ``data.up_axis`` and the likely value, or ``None``.

    It warns when rotation augmentation is on, most shapes are not tallest along ``up_axis``, and
    another axis is the most common tallest one (the likely up axis). A set where ``up_axis`` is
    the most common tallest axis gets no warning even if it is not a majority: wide classes
    (tables, fish, airplanes) split the rest between the two horizontal axes.
    """
    axes = Counter(axis for point_set in point_sets for axis in tallest_axes(point_set, up_axis))
    total, disagree = sum(axes.values()), sum(axes.values()) - axes[up_axis]
    if not rotate or not axes or 2 * disagree <= total:
        return None
    likely, count = axes.most_common(1)[0]
    if likely == up_axis or count == axes[up_axis]:
        return None
    return (f"data.up_axis={up_axis}, but {disagree} of {total} shapes are not tallest along {up_axis} "
            f"({count} are tallest along {likely}, {axes[up_axis]} along {up_axis}): the data set is probably "
            f"{likely} up. data.augment.rotate=true rotates about data.up_axis, here a horizontal axis for "
            f"most shapes; set data.up_axis={likely} (or data.augment.rotate=false)")
