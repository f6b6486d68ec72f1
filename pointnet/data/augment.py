"""Training-time augmentation of one point cloud, each operation configurable or off.

All clouds are z up (see :mod:`pointnet.data.sampling`), so "rotation about the up axis" is a rotation
about z: ModelNet shapes are upright, and PointNet is trained with exactly that freedom. Random numbers
come from an explicit ``torch.Generator``, so a caller that seeds it gets reproducible results
(``PointCloudDataset`` seeds it per item and epoch). The arithmetic runs in NumPy on the tensor's
memory: on ``(1024, 3)`` clouds a NumPy op costs ~1-5 us where a torch op costs ~5-20 us, and
torch draws normals and permutations about twice as fast as NumPy; the mix keeps an item cheap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np
import torch

Cloud = TypeVar("Cloud", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Augmentation:
    """Random per-cloud transforms; evaluation never applies them.

    Args:
        rotate: rotate by a uniform random angle about the up axis (z).
        jitter_sigma: per-coordinate Gaussian noise sigma; 0 turns jitter off.
        jitter_clip: the noise is clipped to ``[-jitter_clip, jitter_clip]``.
        scale: ``(low, high)`` for one uniform random scale factor per cloud, or ``None``.
        shift: translate by a uniform random vector in ``[-shift, shift]^3``; 0 turns it off.
        shuffle: permute the point order.
        anisotropic: draw the scale factor per axis (x, y, z independently) instead of one per cloud.
        point_dropout: PointNet++'s random point dropout: a ratio ``r ~ U[0, point_dropout]`` per
            cloud, each point then replaced by the first point with probability ``r`` (the cloud
            keeps its size); 0 turns it off.
        mirror: axes (0, 1, 2 of the z-up cloud) each negated with probability 1/2 per cloud, before
            the rotation: a reflection, as a horizontal flip is for images; ``()`` turns it off.
        local_dropout: a missing part: a share ``r ~ U[0, local_dropout]`` per cloud, the ``floor(r N)``
            points nearest a uniformly random point of the cloud (itself included) replaced by the
            point farthest from it (the cloud keeps its size); 0 turns it off.
        noise_points: outliers: a share ``r ~ U[0, noise_points]`` per cloud, each point replaced with
            probability ``r`` by a point uniform in the cloud's axis-aligned bounding box (and, with
            normals, a uniformly random unit normal); 0 turns it off.

    Point dropout, local dropout and noise points run in that order, before the linear map, so they
    work in the cached frame and the noise lies in the cloud's own box. The replaced points of both
    dropouts are duplicates of kept ones: max-pooling ignores duplicates, as it ignores the dropped
    points' absence.

    The defaults are the usual PointNet recipe. Normals (channels 3..5) are rotated and mirrored with
    the points; under a scale ``S`` (the linear map is ``M = S R F``, ``F`` the mirror's diagonal of
    signs) they become ``M^-T n = S^-1 R F n``, renormalised to unit length (an isotropic scale leaves
    them as they are); shift and jitter leave them alone.
    """

    rotate: bool = True
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    scale: tuple[float, float] | None = (0.8, 1.25)
    shift: float = 0.1
    shuffle: bool = True
    anisotropic: bool = False
    point_dropout: float = 0.0
    mirror: tuple[int, ...] = ()
    local_dropout: float = 0.0
    noise_points: float = 0.0

    def __post_init__(self) -> None:
        if self.scale is not None:
            low, high = (float(v) for v in self.scale)
            if not 0 < low <= high:
                raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale!r}")
            object.__setattr__(self, "scale", (low, high))
        for name in ("jitter_sigma", "jitter_clip", "shift"):
            value = float(getattr(self, name))
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
            object.__setattr__(self, name, value)
        for name in ("point_dropout", "local_dropout", "noise_points"):
            if not 0 <= float(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")
        mirror = tuple(int(axis) for axis in self.mirror)
        if any(axis not in (0, 1, 2) for axis in mirror) or len(set(mirror)) != len(mirror):
            raise ValueError(f"mirror must list distinct axes among 0, 1, 2, got {self.mirror!r}")
        object.__setattr__(self, "mirror", mirror)

    @classmethod
    def off(cls) -> Augmentation:
        """Every operation disabled (the identity)."""
        return cls(rotate=False, jitter_sigma=0.0, scale=None, shift=0.0, shuffle=False)

    @classmethod
    def from_config(cls, config: Any) -> Augmentation:
        """Build from a mapping (e.g. a Hydra/OmegaConf node); unknown keys raise ``TypeError``."""
        names = {f.name for f in fields(cls)}
        unknown = set(config) - names
        if unknown:
            raise TypeError(f"unknown augmentation options {sorted(unknown)}; known: {sorted(names)}")
        values = {name: config[name] for name in names if name in config}
        if values.get("scale") is not None:
            values["scale"] = tuple(values["scale"])
        return cls(**values)

    @property
    def enabled(self) -> bool:
        """Whether any operation changes a cloud."""
        return bool(self.rotate or self.jitter_sigma > 0 or self.scale or self.shift > 0 or self.shuffle
                    or self.point_dropout > 0 or self.mirror or self.local_dropout > 0 or self.noise_points > 0)

    def __call__(self, points: Cloud, generator: torch.Generator | None = None) -> Cloud:
        """Augment ``(N, 3|6)`` float32 ``points``: :meth:`transform` (in place), then the shuffle.

        Takes and returns a tensor or an array (the same type).
        """
        points = self.transform(points, generator)
        if self.shuffle:
            points = points[torch.randperm(len(points), generator=generator).numpy()]
        return points

    def transform(self, points: Cloud, generator: torch.Generator | None = None) -> Cloud:
        """Drop or replace points, mirror, rotate, scale, shift, jitter ``(N, 3|6)`` float32 ``points`` (in place).

        No shuffle: for callers whose points are already in uniformly random order (``PointCloudDataset``).
        """
        array = points.numpy() if isinstance(points, torch.Tensor) else points
        angle, factor, *offset = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
        if self.point_dropout > 0:
            self._drop_points(array, generator)
        if self.local_dropout > 0:
            drop_local_part(array, self.local_dropout, generator)
        if self.noise_points > 0:
            add_noise_points(array, self.noise_points, generator)
        rotation = rotation_about_z(2.0 * math.pi * angle) if self.rotate else None
        signs = self._mirror_signs(generator)  # (3,) or None
        xyz = array[:, :3]
        if rotation is not None or self.scale is not None or signs is not None:
            scale = self._scale_factors(factor, generator)  # (3,)
            linear = np.eye(3) if rotation is None else rotation
            if signs is not None:
                linear = linear * signs  # R F, F = diag(signs)
            linear = scale[:, None] * linear  # M = S R F
            xyz[...] = np.dot(xyz, linear.T.astype(np.float32))
            if array.shape[1] == 6:
                array[:, 3:] = transform_normals(array[:, 3:], linear / (scale * scale)[:, None])
        if self.jitter_sigma > 0 or self.shift > 0:
            xyz += self._offsets(xyz.shape, offset, generator)
        return points

    def _scale_factors(self, factor: float, generator) -> np.ndarray:
        """``(3,)`` float64 per-axis factors: one draw repeated, or three with ``anisotropic``."""
        if self.scale is None:
            return np.ones(3)
        low, high = self.scale
        draws = [factor]
        if self.anisotropic:
            draws += torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        return np.array([low + (high - low) * u for u in draws] * (3 // len(draws)))

    def _mirror_signs(self, generator) -> np.ndarray | None:
        """``(3,)`` float64 signs, -1 for each axis of ``mirror`` that this cloud flips, or None without mirroring."""
        if not self.mirror:
            return None
        signs = np.ones(3)
        flips = torch.rand(len(self.mirror), generator=generator, dtype=torch.float64).tolist()
        for axis, draw in zip(self.mirror, flips, strict=True):
            if draw < 0.5:
                signs[axis] = -1.0
        return signs

    def _drop_points(self, array: np.ndarray, generator) -> None:
        """Replace each point by the first with probability ``r ~ U[0, point_dropout]`` (in place)."""
        ratio = self.point_dropout * float(torch.rand(1, generator=generator, dtype=torch.float64))
        dropped = torch.rand(len(array), generator=generator, dtype=torch.float64).numpy() < ratio
        array[dropped] = array[0]

    def _offsets(self, shape: tuple[int, int], uniforms: list[float], generator) -> np.ndarray:
        """Clipped Gaussian jitter plus one shift vector: ``(N, 3)`` float32 to add to the points."""
        shift = np.array([self.shift * (2.0 * u - 1.0) for u in uniforms], dtype=np.float32)
        if self.jitter_sigma == 0:
            return shift
        noise = torch.empty(shape).normal_(0.0, self.jitter_sigma, generator=generator).numpy()
        np.clip(noise, -self.jitter_clip, self.jitter_clip, out=noise)
        noise += shift
        return noise


def drop_local_part(array: np.ndarray, max_share: float, generator: torch.Generator | None) -> None:
    """Replace the ``floor(r N)`` points of ``(N, C)`` ``array`` nearest a random one by the farthest (in place).

    ``r ~ U[0, max_share]``; with ``max_share < 1`` the farthest point is never among those replaced.
    """
    share, where = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    count = int(max_share * share * len(array))
    if count == 0:
        return
    centre = array[min(int(where * len(array)), len(array) - 1), :3]
    distance = ((array[:, :3] - centre) ** 2).sum(axis=1)
    array[np.argpartition(distance, count - 1)[:count]] = array[int(distance.argmax())]


def add_noise_points(array: np.ndarray, max_share: float, generator: torch.Generator | None) -> None:
    """Replace each point of ``(N, C)`` ``array`` with probability ``r ~ U[0, max_share]`` by a point uniform in
    the cloud's bounding box (in place); normals (channels 3..5) of those points become random unit vectors."""
    share = max_share * float(torch.rand(1, generator=generator, dtype=torch.float64))
    replaced = torch.rand(len(array), generator=generator, dtype=torch.float64).numpy() < share
    count = int(replaced.sum())
    if count == 0:
        return
    low, high = array[:, :3].min(axis=0), array[:, :3].max(axis=0)
    array[replaced, :3] = low + (high - low) * torch.rand(count, 3, generator=generator).numpy()
    if array.shape[1] >= 6:
        normals = torch.randn(count, 3, generator=generator).numpy()
        array[replaced, 3:6] = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def transform_normals(normals: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(N, 3)`` normals times the ``3x3`` ``matrix`` (acting on column vectors), rescaled to unit length.

    The caller passes the inverse transpose of the points' linear map (for ``M = S R``: ``S^-1 R``,
    which ``S^-2 M`` is); zero-length normals stay zero.
    """
    turned = np.dot(normals, matrix.T.astype(np.float32))
    length = np.linalg.norm(turned, axis=1, keepdims=True)
    np.divide(turned, length, out=turned, where=length > 0)
    return turned


def rotation_about_z(angle: float) -> np.ndarray:
    """The ``3x3`` float64 matrix rotating by ``angle`` radians about z (right-handed)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
