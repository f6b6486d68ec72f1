"""``Augmentation`` applied to a whole ``(B, N, C)`` batch at once, in torch ops on the batch's device.

The same distribution as ``Augmentation.transform`` applied to each cloud (per cloud: one uniform
angle about z, one uniform scale factor, one uniform shift vector, clipped Gaussian jitter per
coordinate; normals rotated only), drawn from one ``torch.Generator`` for the whole batch instead
of one per cloud, so a GPU step needs no per-sample host work. Not the same numbers as the CPU
pipeline (other draws), the same law: ``tests/test_device_batches.py`` compares the two.
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


def augment_batch(points: torch.Tensor, augment: Augmentation, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate, scale, shift and jitter ``(B, N, 3|6)`` ``points`` (a new tensor); no shuffle.

    For batches whose point order is already uniformly random (``DeviceBatches`` draws it so).
    """
    batch, count, channels = points.shape
    uniforms = torch.rand(batch, 5, generator=generator, device=points.device, dtype=points.dtype)
    linear = torch.eye(3, device=points.device, dtype=points.dtype).expand(batch, 3, 3)
    rotation = rotations_about_z(2.0 * math.pi * uniforms[:, 0]) if augment.rotate else None
    if rotation is not None:
        linear = rotation
    if augment.scale is not None:
        low, high = augment.scale
        linear = linear * (low + (high - low) * uniforms[:, 1]).view(batch, 1, 1)
    xyz = torch.bmm(points[..., :3], linear.transpose(1, 2))  # (B, N, 3)
    if augment.shift > 0:
        xyz = xyz + (augment.shift * (2.0 * uniforms[:, 2:] - 1.0)).unsqueeze(1)
    if augment.jitter_sigma > 0:
        noise = torch.randn(batch, count, 3, generator=generator, device=points.device, dtype=points.dtype)
        xyz = xyz + (noise * augment.jitter_sigma).clamp_(-augment.jitter_clip, augment.jitter_clip)
    if channels == 3:
        return xyz
    normals = points[..., 3:6] if rotation is None else torch.bmm(points[..., 3:6], rotation.transpose(1, 2))
    return torch.cat([xyz, normals, points[..., 6:]], dim=2)
