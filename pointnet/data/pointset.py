"""``PointSet``: one prepared split in memory (or memory-mapped), the unit every loader returns."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PointSet:
    """Dense point samples of one split, their labels and where they came from.

    Attributes:
        points: ``(M, P, 3)`` or ``(M, P, 6)`` float32, xyz (z up, in the unit sphere) then normals.
            May be a read-only memory map of the cache file.
        labels: ``(M,)`` int64 indices into ``classes``.
        classes: class names; ``classes[label]`` names a shape's class.
        files: ``M`` source names (paths relative to the data set root, or ``shard.h5:index``).
        skipped: ``(path, reason)`` for every source that could not be read.
        name: what the split is, for summaries (e.g. ``"meshes:data/ModelNet10/train"``).
        counts: ``(M,)`` points each shape really has, at most ``P`` (``None``: all ``P``). A point
            file may hold fewer points than were asked for; its rows past the count repeat its points.
    """

    points: np.ndarray
    labels: np.ndarray
    classes: list[str]
    files: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    name: str = ""
    counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.points.ndim != 3 or self.points.shape[2] not in (3, 6):
            raise ValueError(f"points must be (M, P, 3|6), got {self.points.shape}")
        if len(self.labels) != len(self.points) or len(self.files) != len(self.points):
            raise ValueError(
                f"{len(self.points)} clouds but {len(self.labels)} labels and {len(self.files)} files"
            )
        if self.counts is None:
            self.counts = np.full(len(self.labels), self.points.shape[1], dtype=np.int64)
        if len(self.counts) != len(self.points) or bool(((self.counts < 1) | (self.counts > self.num_points)).any()):
            raise ValueError(f"counts must be {len(self.points)} values in 1..{self.num_points}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_points(self) -> int:
        """``P``, dense points per shape (rows; a shape's own points are ``counts[i]`` of them)."""
        return int(self.points.shape[1])

    @property
    def has_normals(self) -> bool:
        return self.points.shape[2] == 6

    def subset(self, indices: Sequence[int] | np.ndarray) -> PointSet:
        """The shapes at ``indices`` (a copy), same classes; ``skipped`` is kept for the report."""
        idx = np.asarray(indices, dtype=np.int64)
        return PointSet(
            points=np.ascontiguousarray(self.points[idx]),
            labels=np.asarray(self.labels)[idx].copy(),
            classes=list(self.classes),
            files=[self.files[i] for i in idx],
            skipped=list(self.skipped),
            name=self.name,
            counts=np.asarray(self.counts)[idx].copy(),
        )

    def class_counts(self) -> dict[str, int]:
        """Shapes per class name, in class order (zero for an absent class)."""
        counts = Counter(int(label) for label in self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}

    def summary(self) -> str:
        """Human-readable report: shapes per class, then every skipped file with its reason."""
        shape = "x".join(str(d) for d in self.points.shape[1:])
        title = self.name or "point set"
        lines = [f"{title}: {len(self)} shapes ({shape} each) in {len(self.classes)} classes, "
                 f"{len(self.skipped)} skipped"]
        width = max((len(name) for name in self.classes), default=0)
        lines += [f"  {name:<{width}}  {count:6d}" for name, count in self.class_counts().items()]
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)
