"""One pass of evaluation over a loader, and logits averaged over several views of each shape (voting)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from pointnet.data.pipeline.augment import rotations_about_z
from pointnet.data.pipeline.cloud_dataset import PointCloudDataset, warn_short_shapes
from pointnet.data.pointset import PointSet
from pointnet.nn.losses import classification_loss
from pointnet.training.epoch import batch_count, model_dtype
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.precision import autocast


class EvaluationAbandoned(Exception):
    """An evaluation pass stopped part-way on request (see ``evaluate``'s ``abandon``)."""


def rotate_about_z(points: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate ``(B, N, 3)`` points, or ``(B, N, 6)`` points and normals, by ``angle`` radians about z (up)."""
    rotation = rotations_about_z(points.new_tensor([angle]))[0]  # (3, 3), acts on column vectors
    return torch.cat([block @ rotation.T for block in points.split(3, dim=-1)], dim=-1)  # (B, N, C)


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
    abandon: Callable[[], bool] | None = None,
    precision: str = "float32",
) -> ConfusionMatrix:
    """Accumulate a confusion matrix and summed loss over every shape the loader yields.

    ``abandon()`` is asked before each batch; when true the pass raises ``EvaluationAbandoned`` (a
    second stop signal during validation: nothing of the pass is kept, so nothing is inconsistent).
    ``precision``: ``train.precision`` (the forward runs under autocast for ``bf16``).
    """
    model.eval()
    confusion = ConfusionMatrix.empty(num_classes)
    for points, labels in tqdm(batches, desc=description, leave=False, total=batch_count(batches),
                               disable=None if progress else True):
        if abandon is not None and abandon():
            raise EvaluationAbandoned(description)
        points, labels = points.to(device=device, dtype=model_dtype(model)), labels.to(device)
        with autocast(precision, device):
            logits, transform = predict_logits(model, points, votes)
            loss, _ = classification_loss(logits.float(), labels, transform, reg_weight)
        confusion.update(logits, labels, loss.item() * labels.shape[0])
    return confusion


@torch.no_grad()
def vote_confusion(model: nn.Module, point_set: PointSet, num_points: int, *, votes: int, rotate: bool,
                   device: torch.device, batch_size: int = 32, seed: int = 0) -> ConfusionMatrix:
    """Counts of the mean logits over ``votes`` views of every shape of ``point_set``.

    View ``v`` is the fixed evaluation draw of ``num_points`` points with seed ``seed + v`` (another
    subset of the dense sample each time), rotated by ``2 pi v / votes`` about the up axis when
    ``rotate`` (for models trained with rotation augmentation; a model trained upright would be
    voted on poses it never saw). The model's ``in_channels`` picks xyz or xyz + normals.
    """
    model.eval()
    normals = getattr(model, "in_channels", 3) == 6
    total = torch.zeros(len(point_set), len(point_set.classes), dtype=torch.float64)
    warn_short_shapes([point_set], num_points)
    for v in range(votes):
        dataset = PointCloudDataset(point_set, num_points, train=False, seed=seed + v, normals=normals)
        start = 0
        for points, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            points = points.to(device=device, dtype=model_dtype(model))
            if rotate:
                points = rotate_about_z(points, 2 * math.pi * v / votes)
            total[start : start + len(points)] += model(points)[0].double().cpu()
            start += len(points)
    confusion = ConfusionMatrix.empty(len(point_set.classes))
    confusion.update(total / votes, torch.as_tensor(point_set.labels))
    return confusion
