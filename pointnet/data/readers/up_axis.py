"""Which way is up: per shape the axis its horizontal surfaces lie across, per class a vote, per data set a decision.

Prepared clouds are z up for the configured source axis ``data.up_axis`` (:mod:`pointnet.data.readers.sampling`).
A wrong axis makes rotation augmentation "about the up axis" spin shapes about a horizontal axis, so the
data is checked here. The statistic is gravity's: things rest on and carry things on horizontal surfaces
(seats, table tops, shelves, mattresses, bases, floors of cabinets), so points crowd into thin slabs
*across* the up axis. Per shape and axis, :func:`slab_peaks` measures how many times denser than the
axis's average its densest slab is; the shape votes for the axis where that stands out most.

Why not extents: the tallest axis is wrong for wide things (sofas, beds, desks, monitors) and the
thinnest for tall things and for upright panels (doors, curtains). Slabs of a fixed width (a 64th of the
bounding-box diagonal) compared with the axis's mean count are fair to short and long axes alike: a thin
panel standing upright fills the few slabs of its thin axis evenly and does not win. Mirror symmetry (the
up axis lies in a mirror plane, the plane across it is rarely one) was measured too: right for shapes
turned at random about up and for animals, wrong for aligned boxy sets, where every axis lies in a mirror
plane, and no better than the slabs when added to them. What the statistic cannot see: shapes with no flat
parts (animals, hands) vote by chance, and flat things lying down (a keyboard) look like flat things
standing (a door). Hence votes per class, one vote per class for the data set (large classes do not
dominate), and "unsure" instead of an axis when the classes disagree.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pointnet.data.pointset import PointSet
from pointnet.data.readers.sampling import UP_AXES, to_z_up

SLABS = 64
"""Slabs per bounding-box diagonal: a slab is as thick along every axis."""
STRONG, FAIR = 0.75, 0.5
"""A class's agreement (share of its shapes voting for its axis): strong, fair; below FAIR it is weak
and abstains from the data set's decision."""
LEAD = 2.0
"""The data set's axis needs this many times the deciding classes of the runner-up..."""
QUORUM = 1 / 3
"""...and at least this share of all classes (what chance gives one axis); otherwise the decision is "unsure"."""
_CHUNK_POINTS = 1 << 20  # points per pass: bounds the (shapes, P, 3) slab indices in memory


def slab_peaks(points: np.ndarray) -> np.ndarray:
    """``(M, P, 3+)`` clouds to ``(M, 3)``: per shape and axis, the densest slab's share of the points
    times the number of occupied slabs along that axis (1: evenly spread; a table top: far above 1).

    Slabs are ``1/SLABS`` of the shape's bounding-box diagonal thick on every axis, so a short axis
    has fewer of them and its peak is measured against its own average, not against a long axis's.
    """
    peaks = np.ones((len(points), 3))
    chunk = max(1, _CHUNK_POINTS // max(points.shape[1], 1))
    for start in range(0, len(points), chunk):
        peaks[start:start + chunk] = _slab_peaks(np.asarray(points[start:start + chunk, :, :3], np.float64))
    return peaks


def _slab_peaks(xyz: np.ndarray) -> np.ndarray:
    m, p, _ = xyz.shape
    low, high = xyz.min(axis=1, keepdims=True), xyz.max(axis=1, keepdims=True)
    thickness = np.linalg.norm(high - low, axis=2, keepdims=True) / SLABS
    slab = np.minimum((xyz - low) / np.maximum(thickness, 1e-12), SLABS).astype(np.int64)  # (m, p, 3)
    bins = SLABS + 1
    flat = (np.arange(m)[:, None, None] * 3 + np.arange(3)) * bins + slab
    counts = np.bincount(flat.ravel(), minlength=m * 3 * bins).reshape(m, 3, bins)
    return counts.max(axis=2) * (counts > 0).sum(axis=2) / p


def shape_votes(points: np.ndarray) -> np.ndarray:
    """``(M, P, 3+)`` clouds to ``(M,)`` votes: the axis (0..2) of each shape's most outstanding slab,
    -1 for a shape whose axes all score alike (a single point, a cube's corners)."""
    peaks = slab_peaks(points)
    votes = peaks.argmax(axis=1)
    votes[np.isclose(peaks.max(axis=1), peaks.min(axis=1))] = -1
    return votes


@dataclass(frozen=True)
class ClassVote:
    """One class's up axis: ``axis`` (a source axis name, ``None`` when no shape voted), and ``count`` of
    its ``total`` shapes voting for it."""

    name: str
    axis: str | None
    count: int
    total: int

    @property
    def agreement(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def strength(self) -> str:
        """``"strong"``, ``"fair"`` or ``"weak"`` (a weak class does not vote for the data set)."""
        return "strong" if self.agreement >= STRONG else "fair" if self.agreement >= FAIR else "weak"

    @property
    def decides(self) -> bool:
        return self.axis is not None and self.agreement >= FAIR


@dataclass(frozen=True)
class UpAxisDecision:
    """The data set's up axis from its classes' votes: ``axis`` when confident, else ``None`` (unsure).

    ``votes``: deciding classes per source axis; ``undecided``: classes too split to vote.
    """

    classes: tuple[ClassVote, ...]
    axis: str | None
    votes: dict[str, int]
    undecided: int

    @property
    def leader(self) -> str | None:
        """The axis with the most deciding classes (whether or not that is enough to be sure)."""
        best = max(UP_AXES, key=lambda a: self.votes[a])
        return best if self.votes[best] else None

    @property
    def margin(self) -> int:
        """Deciding classes of the leader minus those of the runner-up."""
        first, second = sorted(self.votes.values(), reverse=True)[:2]
        return first - second

    def tally(self) -> str:
        """``"z for 30 classes, y for 4, x for 2, 4 undecided"``: every axis that got a vote, most first."""
        ranked = [a for a in sorted(UP_AXES, key=lambda a: -self.votes[a]) if self.votes[a]]
        parts = [f"{a} for {self.votes[a]}" + (" classes" if i == 0 else "") for i, a in enumerate(ranked)]
        if self.undecided:
            parts.append(f"{self.undecided} undecided")
        return ", ".join(parts) or "no class decided"


def source_frame(points: np.ndarray, up_axis: str) -> np.ndarray:
    """``(..., 3)`` z-up points back in the files' own axes (undoing :func:`to_z_up` for ``up_axis``)."""
    return points @ to_z_up(np.eye(3), up_axis).T


def class_votes(point_sets: list[PointSet], up_axis: str) -> tuple[ClassVote, ...]:
    """Each class's most common shape vote over ``point_sets`` (same classes), named in the files' axes."""
    names = _source_names(up_axis)
    tallies: dict[int, Counter] = {label: Counter() for label in range(len(point_sets[0].classes))}
    for point_set in point_sets:
        if len(point_set):
            for label, vote in zip(np.asarray(point_set.labels), shape_votes(point_set.points), strict=True):
                tallies[int(label)][names[vote] if vote >= 0 else None] += 1
    return tuple(_class_vote(name, tallies[label]) for label, name in enumerate(point_sets[0].classes))


def _class_vote(name: str, tally: Counter) -> ClassVote:
    total = sum(tally.values())
    axes = Counter({axis: n for axis, n in tally.items() if axis is not None})
    if not axes:
        return ClassVote(name, None, 0, total)
    axis, count = axes.most_common(1)[0]
    return ClassVote(name, axis, count, total)


def _source_names(up_axis: str) -> list[str]:
    """The source axis name of each z-up axis 0..2."""
    return ["xyz"[int(np.abs(row).argmax())] for row in to_z_up(np.eye(3), up_axis).T]


def decide_up_axis(point_sets: list[PointSet], up_axis: str) -> UpAxisDecision:
    """The data set's up axis, in the files' axes, from one vote per class (weak classes abstain).

    Confident when the leading axis has at least ``LEAD`` times the runner-up's deciding classes and at
    least ``QUORUM`` of all classes that have shapes; otherwise ``axis`` is ``None``.
    """
    classes = class_votes(point_sets, up_axis)
    votes = {axis: sum(1 for c in classes if c.decides and c.axis == axis) for axis in UP_AXES}
    present = [c for c in classes if c.total]
    undecided = sum(1 for c in present if not c.decides)
    first, second = sorted(votes.values(), reverse=True)[:2]
    sure = first > 0 and first >= LEAD * second and first >= QUORUM * len(present)
    axis = max(UP_AXES, key=lambda a: votes[a]) if sure else None
    return UpAxisDecision(classes, axis, votes, undecided)


def up_axis_report(decision: UpAxisDecision, up_axis: str, picture: str | None = None) -> str:
    """Per class its axis and how strongly its shapes agree, then the data set's decision and the picture."""
    width = max((len(c.name) for c in decision.classes), default=0)
    lines = [f"up axis per class (data.up_axis={up_axis}; the axis across which a shape's points crowd "
             f"into the densest flat slab):"]
    for c in decision.classes:
        if c.total:
            axis = c.axis or "-"
            lines.append(f"  {c.name:<{width}}  {axis}  ({c.count} of {c.total}, {c.strength})")
    lines.append(f"up axis of the data set: {_verdict(decision, up_axis)}")
    if picture:
        lines.append(f"picture (shapes drawn with x, y and z up): {picture}")
    return "\n".join(lines)


def _verdict(decision: UpAxisDecision, up_axis: str) -> str:
    if decision.axis is None:
        return f"unsure ({decision.tally()})"
    agrees = "as configured" if decision.axis == up_axis else f"not data.up_axis={up_axis}"
    return f"{decision.axis} ({decision.tally()}; margin {decision.margin}), {agrees}"


def up_axis_warning(decision: UpAxisDecision, up_axis: str, rotate: bool, picture: str | None = None) -> str | None:
    """The one warning about ``data.up_axis``, or ``None``.

    Only with rotation augmentation on (without it a wrong axis spins nothing). A confident decision
    that disagrees names ``data.up_axis`` and the likely value; an unsure one names no value and says
    where to look instead.
    """
    if not rotate or decision.axis == up_axis:
        return None
    look = f"look at {picture}" if picture else "look at a few shapes"
    if decision.axis is None:
        if decision.leader in (None, up_axis) and decision.margin > 0:
            return None
        return (f"cannot tell which axis is up ({decision.tally()}); {look} (each shape drawn with x, y and z "
                f"up) and set data.up_axis to the one they stand on: data.augment.rotate=true rotates about "
                f"data.up_axis={up_axis}")
    return (f"data.up_axis={up_axis}, but the shapes are {decision.axis} up ({decision.tally()}; margin "
            f"{decision.margin}; {look}). data.augment.rotate=true rotates about data.up_axis, here a horizontal "
            f"axis; set data.up_axis={decision.axis} (or data.augment.rotate=false)")


def picture_shapes(point_sets: list[PointSet], decision: UpAxisDecision, up_axis: str, classes: int = 8,
                   shapes: int = 2) -> list[tuple[str, list[np.ndarray]]]:
    """Up to ``classes`` classes with up to ``shapes`` ``(P, 3)`` clouds each, in the files' own axes, to draw.

    Deciding classes come first, taken in turn from each axis they voted for, so a split data set shows
    both sides of its split; the rest fill up the picture in class order.
    """
    chosen = _picture_classes(decision, classes)
    picked: dict[str, list[np.ndarray]] = {name: [] for name in chosen}
    index = {name: label for label, name in enumerate(point_sets[0].classes)}
    for point_set in point_sets:
        labels = np.asarray(point_set.labels)
        for name in chosen:
            for i in np.flatnonzero(labels == index[name])[:shapes - len(picked[name])]:
                picked[name].append(source_frame(np.asarray(point_set.points[i, :, :3], np.float64), up_axis))
    return [(name, picked[name]) for name in chosen if picked[name]]


def _picture_classes(decision: UpAxisDecision, count: int) -> list[str]:
    groups = [[c.name for c in decision.classes if c.decides and c.axis == axis] for axis in UP_AXES]
    interleaved = [name for row in _zip_longest(groups) for name in row]
    rest = [c.name for c in decision.classes if c.total and c.name not in interleaved]
    return (interleaved + rest)[:count]


def _zip_longest(groups: list[list[str]]) -> list[list[str]]:
    depth = max((len(g) for g in groups), default=0)
    return [[g[i] for g in groups if i < len(g)] for i in range(depth)]
