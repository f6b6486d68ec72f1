"""``Augmentation`` applied to a whole ``(B, N, C)`` batch at once, in torch ops on the batch's device.

The same distribution as ``Augmentation.transform`` applied to each cloud (per cloud: the point
dropout ratio, the local dropout's share and centre, the noise points' share, a sign per mirrored
axis, one uniform angle about z, one uniform scale factor or one per axis, one uniform shift vector,
clipped Gaussian jitter per coordinate; normals turned by the inverse transpose of the linear map and
renormalised), drawn from one ``torch.Generator`` for the whole batch instead of one per cloud, so a
GPU step needs no per-sample host work. Not the same numbers as the CPU pipeline (other draws), the
same law: ``tests/test_device_batches.py`` and ``tests/test_robust_augment.py`` compare the two.
"""
from __future__ import annotations

import math

import torch

from pointnet.data.augment import Augmentation


def rotations_about_z(angles: torch.Tensor) -> torch.Tensor:
    """``(B,)`` angles in radians -> ``(B, 3, 3)`` right-handed rotations about z (act on column vectors)."""
    c, s = torch.cos(angles), torch.sin(angles)
    zero, one = torch.zeros_like(angles), torch.ones_like(angles)
    return torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=1).view(-1, 3, 3)


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
    ``r ~ U[0, max_share]`` by one uniform in the cloud's bounding box, a random unit normal with it (a new tensor)."""
    batch, count, channels = points.shape
    share = max_share * torch.rand(batch, 1, generator=generator, device=points.device, dtype=torch.float64)
    replaced = torch.rand(batch, count, generator=generator, device=points.device, dtype=torch.float64) < share
    low, high = points[..., :3].amin(dim=1, keepdim=True), points[..., :3].amax(dim=1, keepdim=True)
    noise = low + (high - low) * torch.rand(batch, count, 3, generator=generator, device=points.device,
                                            dtype=points.dtype)
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
    """Drop or replace points, mirror, rotate, scale, shift, jitter ``(B, N, 3|6)`` ``points`` (a new tensor).

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
