"""One pass of evaluation over a loader, and logits averaged over rotations about the up axis (voting)."""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from pointnet.nn.losses import classification_loss
from pointnet.data.augment import rotation_about_z
from pointnet.training.epoch import batch_count, model_dtype
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.precision import autocast


def rotate_about_z(points: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate ``(B, N, 3)`` points by ``angle`` radians about the up (z) axis."""
    rotation = points.new_tensor(rotation_about_z(angle))  # (3, 3), acts on column vectors
    return points @ rotation.T  # (B, N, 3)


@torch.no_grad()
def predict_logits(model: nn.Module, points: torch.Tensor, votes: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits ``(B, K)`` averaged over ``votes`` rotations about the up axis (2 pi v / votes).

    Also returns the feature transform of the unrotated pass (for the regulariser).
    """
    logits, transform = model(points)
    for v in range(1, votes):
        logits = logits + model(rotate_about_z(points, 2 * math.pi * v / votes))[0]
    return logits / votes, transform


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    *,
    device: torch.device,
    reg_weight: float = 0.0,
    votes: int = 1,
    description: str = "eval",
    progress: bool = True,
    precision: str = "float32",
) -> ConfusionMatrix:
    """Accumulate a confusion matrix and summed loss over every shape the loader yields.

    ``precision``: ``train.precision`` (the forward runs under autocast for ``bf16``)."""
    model.eval()
    confusion = ConfusionMatrix.empty(num_classes)
    for points, labels in tqdm(batches, desc=description, leave=False, total=batch_count(batches),
                               disable=None if progress else True):
        points, labels = points.to(device=device, dtype=model_dtype(model)), labels.to(device)
        with autocast(precision, device):
            logits, transform = predict_logits(model, points, votes)
            loss, _ = classification_loss(logits.float(), labels, transform, reg_weight)
        confusion.update(logits, labels, loss.item() * labels.shape[0])
    return confusion
