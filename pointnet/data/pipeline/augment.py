"""Training-time augmentation, each operation configurable or off: one torch implementation on ``(B, N, C)``.

The CPU pipeline (``PointCloudDataset``) augments each cloud as a batch of one; the device pipeline
(``DeviceBatches``) a whole batch on the GPU. Both call ``augment_batch``, so the same generator state
gives the same clouds on either path. All clouds are z up (see :mod:`pointnet.data.readers.sampling`), so
"rotation about the up axis" is a rotation about z: ModelNet shapes are upright, and PointNet is
trained with exactly that freedom. Random numbers come from an explicit ``torch.Generator``, so a
caller that seeds it gets reproducible results (``PointCloudDataset`` seeds it per item and epoch;
``DeviceBatches`` per batch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Cloud = TypeVar("Cloud", np.ndarray, torch.Tensor)


@dataclass
class AugmentStrengths:
    """The operations' switches and strengths that the config (``data.augment``) and ``Augmentation`` name alike;
    the defaults are the usual PointNet recipe (see ``Augmentation`` for what each does)."""

    rotate: bool = True
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    shift: float = 0.1
    shuffle: bool = True
    anisotropic: bool = False
    point_dropout: float = 0.0
    local_dropout: float = 0.0
    noise_points: float = 0.0
    tilt: float = 0.0


@dataclass
class Augmentation(AugmentStrengths):
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
            probability ``r`` by a point uniform in the cloud's bounding ball (centred on its centroid, through
            its farthest point; with normals, a uniformly random unit normal); 0 turns it off.
        tilt: degrees; rotate about x and then y by angles uniform in ``[-tilt, tilt]`` each, before the rotation
            about z: a shape a little off upright, as a scan's pose or ModelNet-C's ``rotate`` (up to 30 degrees
            about every axis) leaves it; 0 turns it off.

    Point dropout, local dropout and noise points run in that order, before the linear map, so they
    work in the cached frame and the noise lies in the cloud's own bounding ball. The replaced points of both
    dropouts are duplicates of kept ones: max-pooling ignores duplicates, as it ignores the dropped
    points' absence.

    The defaults are the usual PointNet recipe. Normals (channels 3..5) are rotated and mirrored with
    the points; under a scale ``S`` (the linear map is ``M = S R F``, ``F`` the mirror's diagonal of
    signs) they become ``M^-T n = S^-1 R F n``, renormalised to unit length (an isotropic scale leaves
    them as they are); shift and jitter leave them alone.
    """

    scale: tuple[float, float] | None = (0.8, 1.25)
    mirror: tuple[int, ...] = ()

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
        if not 0 <= float(self.tilt) <= 90:
            raise ValueError(f"tilt must be in [0, 90] degrees, got {self.tilt!r}")
        mirror = tuple(int(axis) for axis in self.mirror)
        if any(axis not in (0, 1, 2) for axis in mirror) or len(set(mirror)) != len(mirror):
            raise ValueError(f"mirror must list distinct axes among 0, 1, 2, got {self.mirror!r}")
        object.__setattr__(self, "mirror", mirror)

    @classmethod
    def off(cls) -> Augmentation:
        """Every operation disabled (the identity)."""
        return cls(rotate=False, jitter_sigma=0.0, scale=None, shift=0.0, shuffle=False)

    @property
    def enabled(self) -> bool:
        """Whether any operation changes a cloud."""
        return bool(self.rotate or self.jitter_sigma > 0 or self.scale or self.shift > 0 or self.shuffle
                    or self.point_dropout > 0 or self.mirror or self.local_dropout > 0 or self.noise_points > 0
                    or self.tilt > 0)

    def __call__(self, points: Cloud, generator: torch.Generator | None = None) -> Cloud:
        """Augment one ``(N, 3|6)`` cloud: :meth:`transform`, then the shuffle (a new tensor, or array)."""
        points = self.transform(points, generator)
        if self.shuffle:
            points = points[torch.randperm(len(points), generator=generator).numpy()]
        return points

    def transform(self, points: Cloud, generator: torch.Generator | None = None) -> Cloud:
        """Drop or replace points, mirror, tilt, rotate, scale, shift, jitter one ``(N, 3|6)`` cloud: ``augment_batch``
        on a batch of one (a new tensor, or a new array for an array).

        No shuffle: for callers whose points are already in uniformly random order (``PointCloudDataset``).
        """
        if isinstance(points, np.ndarray):
            return augment_batch(torch.from_numpy(points).unsqueeze(0), self, generator)[0].numpy()
        return augment_batch(points.unsqueeze(0), self, generator)[0]


def rotations_about_z(angles: torch.Tensor) -> torch.Tensor:
    """``(B,)`` angles in radians -> ``(B, 3, 3)`` right-handed rotations about z (act on column vectors)."""
    c, s = torch.cos(angles), torch.sin(angles)
    zero, one = torch.zeros_like(angles), torch.ones_like(angles)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=1).view(-1, 3, 3)


def tilts(max_degrees: float, batch: int, device: torch.device, dtype: torch.dtype,
          generator: torch.Generator | None) -> torch.Tensor:
    """``(B, 3, 3)`` rotations ``R_y(b) R_x(a)``, ``a`` and ``b`` uniform in ``[-max_degrees, max_degrees]``."""
    a, b = (math.radians(max_degrees) * (2.0 * torch.rand(2, batch, generator=generator, device=device,
                                                           dtype=dtype) - 1.0)).unbind(0)
    ca, sa, cb, sb = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    about_x = torch.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca], dim=1).view(-1, 3, 3)
    about_y = torch.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb], dim=1).view(-1, 3, 3)
    return torch.bmm(about_y, about_x)


def drop_points(points: torch.Tensor, max_ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """PointNet++'s point dropout per cloud of ``(B, N, C)`` ``points``: a ratio ``r ~ U[0, max_ratio]``,
    then each point replaced by the cloud's first with probability ``r`` (a new tensor, same shape)."""
    batch, count, _ = points.shape
    ratio = max_ratio * torch.rand(batch, 1, generator=generator, device=points.device, dtype=torch.float64)
    dropped = torch.rand(batch, count, generator=generator, device=points.device, dtype=torch.float64) < ratio
    return torch.where(dropped.unsqueeze(2), points[:, :1], points)


def drop_local_parts(points: torch.Tensor, max_share: float, generator: torch.Generator | None) -> torch.Tensor:
    """``Augmentation.local_dropout`` per cloud of ``(B, N, C)`` ``points``: a share ``r ~ U[0, max_share]``, the
    ``floor(r N)`` points nearest a random point replaced by the point farthest from it (a new tensor)."""
    batch, count, _ = points.shape
    draws = torch.rand(batch, 2, generator=generator, device=points.device, dtype=torch.float64)
    dropped_count = (max_share * draws[:, :1] * count).floor().long()  # (B, 1)
    centre = (draws[:, 1] * count).long().clamp_(max=count - 1)
    xyz = points[..., :3]
    distance = ((xyz - xyz[torch.arange(batch, device=points.device), centre].unsqueeze(1)) ** 2).sum(dim=2)
    rank = distance.argsort(dim=1).argsort(dim=1)  # (B, N), 0 for the centre
    farthest = points.gather(1, distance.argmax(dim=1).view(-1, 1, 1).expand(-1, 1, points.shape[2]))
    return torch.where((rank < dropped_count).unsqueeze(2), farthest, points)


def add_noise_points(points: torch.Tensor, max_share: float, generator: torch.Generator | None) -> torch.Tensor:
    """``Augmentation.noise_points`` per cloud of ``(B, N, C)`` ``points``: each point replaced with probability
    ``r ~ U[0, max_share]`` by one uniform in the cloud's bounding ball (centred on its centroid, through its
    farthest point), a random unit normal with it (a new tensor).

    The ball, not the box: for a cloud normalised into the unit sphere it is the unit ball, where ModelNet-C's
    ``add_global`` puts its outliers; a thin shape's box (an airplane's is flat) leaves most of that ball out, and a
    model trained on box noise stayed as fragile to ``add_global`` as one trained on none.
    """
    batch, count, channels = points.shape
    share = max_share * torch.rand(batch, 1, generator=generator, device=points.device, dtype=torch.float64)
    replaced = torch.rand(batch, count, generator=generator, device=points.device, dtype=torch.float64) < share
    centre = points[..., :3].mean(dim=1, keepdim=True)  # (B, 1, 3)
    radius = (points[..., :3] - centre).norm(dim=2, keepdim=True).amax(dim=1, keepdim=True)  # (B, 1, 1)
    direction = torch.randn(batch, count, 3, generator=generator, device=points.device, dtype=points.dtype)
    direction = direction / direction.norm(dim=2, keepdim=True).clamp_min(1e-12)
    depth = torch.rand(batch, count, 1, generator=generator, device=points.device, dtype=points.dtype) ** (1 / 3)
    noise = centre + radius * depth * direction
    if channels >= 6:
        normals = torch.randn(batch, count, 3, generator=generator, device=points.device, dtype=points.dtype)
        noise = torch.cat([noise, normals / normals.norm(dim=2, keepdim=True).clamp_min(1e-12),
                           points[..., 6:]], dim=2)
    return torch.where(replaced.unsqueeze(2), noise, points)


def scale_factors(augment: Augmentation, first: torch.Tensor,
                  generator: torch.Generator | None) -> torch.Tensor | None:
    """``(B, 3)`` per-axis factors from the uniforms ``first (B,)`` (and two more per cloud when
    anisotropic), or None without scaling."""
    if augment.scale is None:
        return None
    low, high = augment.scale
    draws = first.unsqueeze(1).expand(-1, 3)
    if augment.anisotropic:
        more = torch.rand(len(first), 2, generator=generator, device=first.device, dtype=first.dtype)
        draws = torch.cat([first.unsqueeze(1), more], dim=1)
    return low + (high - low) * draws


def mirror_signs(augment: Augmentation, batch: int, device: torch.device, dtype: torch.dtype,
                 generator: torch.Generator | None) -> torch.Tensor | None:
    """``(B, 3)`` signs, -1 where a cloud flips one of ``augment.mirror``'s axes (probability 1/2 each),
    or None without mirroring."""
    if not augment.mirror:
        return None
    signs = torch.ones(batch, 3, device=device, dtype=dtype)
    flips = torch.rand(batch, len(augment.mirror), generator=generator, device=device, dtype=dtype) < 0.5
    signs[:, list(augment.mirror)] = torch.where(flips, -1.0, 1.0).to(dtype)
    return signs


def augment_batch(points: torch.Tensor, augment: Augmentation,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Drop or replace points, mirror, tilt, rotate, scale, shift, jitter ``(B, N, 3|6)`` ``points`` (a new tensor).

    No shuffle: for batches whose point order is already uniformly random (``DeviceBatches`` draws it so).
    """
    batch, count, channels = points.shape
    uniforms = torch.rand(batch, 5, generator=generator, device=points.device, dtype=points.dtype)
    if augment.point_dropout > 0:
        points = drop_points(points, augment.point_dropout, generator)
    if augment.local_dropout > 0:
        points = drop_local_parts(points, augment.local_dropout, generator)
    if augment.noise_points > 0:
        points = add_noise_points(points, augment.noise_points, generator)
    linear = torch.eye(3, device=points.device, dtype=points.dtype).expand(batch, 3, 3)
    rotation = rotations_about_z(2.0 * math.pi * uniforms[:, 0]) if augment.rotate else None
    if augment.tilt > 0:
        tilt = tilts(augment.tilt, batch, points.device, points.dtype, generator)
        rotation = tilt if rotation is None else torch.bmm(rotation, tilt)
    if rotation is not None:
        linear = rotation
    signs = mirror_signs(augment, batch, points.device, points.dtype, generator)  # (B, 3)
    if signs is not None:
        linear = linear * signs.unsqueeze(1)  # R F, F = diag(signs)
    orthogonal = rotation if signs is None else linear
    scale = scale_factors(augment, uniforms[:, 1], generator)  # (B, 3)
    if scale is not None:
        linear = scale.unsqueeze(2) * linear  # M = S R F
    xyz = torch.bmm(points[..., :3], linear.transpose(1, 2))  # (B, N, 3)
    if augment.shift > 0:
        xyz = xyz + (augment.shift * (2.0 * uniforms[:, 2:] - 1.0)).unsqueeze(1)
    if augment.jitter_sigma > 0:
        noise = torch.randn(batch, count, 3, generator=generator, device=points.device, dtype=points.dtype)
        xyz = xyz + (noise * augment.jitter_sigma).clamp_(-augment.jitter_clip, augment.jitter_clip)
    if channels == 3:
        return xyz
    return torch.cat([xyz, turn_normals(points[..., 3:6], orthogonal, scale if augment.anisotropic else None),
                      points[..., 6:]], dim=2)


def turn_normals(normals: torch.Tensor, rotation: torch.Tensor | None, scale: torch.Tensor | None) -> torch.Tensor:
    """``(B, N, 3)`` normals under the points' map ``M = S R`` (``R`` orthogonal: a rotation, a mirror or
    both, ``(B, 3, 3)``): ``M^-T n = S^-1 R n``, renormalised.

    ``scale`` (``(B, 3)``) only when it differs per axis: a uniform factor leaves unit normals as they are.
    """
    if rotation is not None:
        normals = torch.bmm(normals, rotation.transpose(1, 2))
    if scale is None:
        return normals
    turned = normals / scale.unsqueeze(1)
    length = turned.norm(dim=2, keepdim=True)
    return torch.where(length > 0, turned / length.clamp_min(torch.finfo(turned.dtype).tiny), turned)
