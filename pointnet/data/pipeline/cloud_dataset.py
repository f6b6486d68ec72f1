"""``PointCloudDataset``: ``num_points`` of each shape's dense sample, drawn per epoch, as torch tensors.

Every random choice for item ``i`` comes from one ``torch.Generator`` re-seeded with a SplitMix64
hash of ``(seed, epoch, i)`` only. Draws thus do not depend on access order, batch size or worker
count, and a run resumed at epoch ``e`` sees exactly what the original run saw. Training draws a new
subset each epoch; evaluation uses one fixed draw per shape, whatever the epoch. The augmentation is
``pointnet.data.pipeline.augment``'s batch code on a batch of one (the device pipeline runs the same code on
whole batches); ``benchmarks/data.py`` measures the cost per item.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pointnet.data.pipeline.augment import Augmentation
from pointnet.data.pointset import PointSet

log = logging.getLogger("pointnet.data")

_TRAIN, _EVAL = 0, 1
_MASK = (1 << 64) - 1


def splitmix64(value: int) -> int:
    """The SplitMix64 finaliser: a well-mixed 64-bit hash of a 64-bit integer."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


class PointCloudDataset(Dataset):
    """Items ``(points, label)``: ``(num_points, 3|6)`` float32 tensor and an int64 scalar tensor.

    Args:
        point_set: the prepared split; its ``(M, P, C)`` dense samples are indexed, not copied.
        num_points: points per item, at most ``P``.
        train: a new random subset each epoch (see ``set_epoch``) and augmentation; else one
            fixed seeded subset per shape and no augmentation.
        augment: applied only when ``train``; ``None`` means none.
        seed: keys every random draw.
        normals: return ``(num_points, 6)`` xyz+normals (needs a point set prepared with normals).

    A subset is the first ``num_points`` of a uniformly random permutation of the shape's own points
    (``point_set.counts[i]`` of its ``P`` rows): a uniformly random subset in uniformly random order, so
    the augmentation's shuffle comes free, and no point is drawn twice. A shape with fewer points than
    ``num_points`` (a small point file) gives every point once, then repeats randomly chosen ones to
    fill the cloud (a max-pool sees the same set); :func:`warn_short_shapes` says how many there are.
    A training set whose augmentation has ``shuffle=False`` keeps the chosen points in their cached
    order instead (the same random subset, sorted by index).
    """

    def __init__(
        self,
        point_set: PointSet,
        num_points: int,
        *,
        train: bool,
        augment: Augmentation | None = None,
        seed: int = 0,
        normals: bool = False,
    ) -> None:
        if num_points < 1:
            raise ValueError(f"num_points={num_points} must be >= 1")
        if normals and not point_set.has_normals:
            raise ValueError("normals=True needs a point set prepared with normals")
        self.point_set = point_set
        self.num_points = int(num_points)
        self.train = bool(train)
        self.augment = augment if self.train and augment is not None and augment.enabled else None
        self._keep_order = self.train and augment is not None and not augment.shuffle
        self.seed = int(seed)
        self.epoch = 0
        self._channels = 6 if normals else 3
        self._points = point_set.points
        self._counts = np.asarray(point_set.counts).tolist()
        self._labels = list(torch.as_tensor(np.asarray(point_set.labels), dtype=torch.int64).unbind())
        self._generator = torch.Generator()

    def __len__(self) -> int:
        return len(self.point_set)

    @property
    def channels(self) -> int:
        """Channels per point of an item: 3 (xyz) or 6 (xyz + normals)."""
        return self._channels

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_generator"]  # re-created on unpickling (spawned DataLoader workers)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._generator = torch.Generator()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose draws ``__getitem__`` returns (training only; eval ignores it)."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} shapes")
        index = int(index) % len(self)
        generator = self.generator(index)
        dense = self._points[index]  # (P, C)
        choice = draw_points(self._counts[index], self.num_points, generator)
        if self._keep_order:
            choice.sort()
        points = np.take(dense, choice, axis=0)  # fresh (num_points, C)
        if points.shape[1] != self._channels:
            points = np.ascontiguousarray(points[:, : self._channels])
        cloud = torch.from_numpy(points)
        if self.augment is not None:
            cloud = self.augment.transform(cloud, generator)
        return cloud, self._labels[index]

    def generator(self, index: int) -> torch.Generator:
        """The generator of item ``index`` for the current epoch (train) or the fixed draw (eval).

        Returned re-seeded and shared: use it before the next call.
        """
        epoch, mode = (self.epoch, _TRAIN) if self.train else (0, _EVAL)
        key = 0
        for word in (self.seed & _MASK, epoch & _MASK, index, mode):
            key = splitmix64(key ^ word)
        return self._generator.manual_seed(key)


def draw_points(count: int, num_points: int, generator: torch.Generator) -> np.ndarray:
    """``num_points`` row indices among a shape's ``count`` points: distinct in random order, then
    (only when ``count < num_points``) random repeats to fill."""
    choice = torch.randperm(count, generator=generator)[:num_points]
    if count < num_points:
        choice = torch.cat([choice, torch.randint(count, (num_points - count,), generator=generator)])
    return choice.numpy()


def warn_short_shapes(point_sets: Sequence[PointSet], num_points: int) -> int:
    """Warn once for all ``point_sets`` (a data set's splits) when some shapes hold fewer points than
    each cloud needs; returns how many do."""
    counts = np.concatenate([np.asarray(p.counts) for p in point_sets]) if point_sets else np.zeros(0, np.int64)
    short = int((counts < num_points).sum())
    if short:
        names = ", ".join(p.name for p in point_sets if p.name) or "the data set"
        log.warning("%d of %d shapes (%s) have fewer than data.num_points=%d points (fewest %d): each such cloud "
                    "holds every point once and repeats some of them to fill", short, len(counts), names,
                    num_points, int(counts.min()))
    return short
