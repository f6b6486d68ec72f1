"""PointCutMix-R: replace a random share of each cloud's points with points of another cloud in the batch.

Zhang et al., "PointCutMix: Regularization Strategy for Point Cloud Classification" (Neurocomputing 2022,
github.com/cuge1995/PointCutMix). With probability ``prob`` per batch, a ratio ``lam ~ Beta(beta, beta)``
is drawn; every cloud ``a`` keeps ``N - k`` of its points (``k = round(lam N)``, at random) and takes
``k`` random points of its partner ``b = perm[a]``, and the loss weighs the two labels ``1 - k/N`` and
``k/N``. (The paper pairs the points by an optimal assignment; for random replacement in a
permutation-invariant network that only decides which random subset of ``b`` arrives, so uniform
subsets give the same distribution.) Draws come from torch's global generators (the coin and ``lam`` on
the CPU, the subsets on the batch's device, so a GPU step does no per-point host work), which checkpoints keep.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class MixedBatch:
    """A batch after mixing: ``points`` ``(B, N, C)``, the partners' ``labels`` ``(B,)`` and their weight."""

    points: torch.Tensor
    partner_labels: torch.Tensor
    partner_weight: float


def _random_subset(batch: int, count: int, keep: int, device: torch.device) -> torch.Tensor:
    """``(batch, keep)`` indices: a uniformly random ``keep``-subset of ``range(count)`` per row."""
    return torch.rand(batch, count, device=device).argsort(dim=1)[:, :keep]


def point_cutmix(points: torch.Tensor, labels: torch.Tensor, prob: float, beta: float = 1.0) -> MixedBatch | None:
    """Mix ``(B, N, C)`` ``points`` (xyz and any normals travel together) as above, or None this batch.

    None when ``prob`` is 0, the coin says no, or ``lam`` rounds to no replaced point.
    """
    if prob <= 0 or float(torch.rand(())) >= prob:
        return None
    batch, count, channels = points.shape
    lam = float(torch.distributions.Beta(beta, beta).sample())
    replaced = round(lam * count)
    if replaced == 0:
        return None
    partner = torch.randperm(batch, device=points.device)
    kept = _random_subset(batch, count, count - replaced, points.device)  # (B, N - k)
    taken = _random_subset(batch, count, replaced, points.device)  # (B, k), rows of the partner
    own = points.gather(1, kept.unsqueeze(-1).expand(-1, -1, channels))  # (B, N - k, C)
    other = points[partner].gather(1, taken.unsqueeze(-1).expand(-1, -1, channels))  # (B, k, C)
    return MixedBatch(torch.cat([own, other], dim=1), labels[partner], replaced / count)
