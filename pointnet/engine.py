"""One epoch of training and one pass of evaluation: plain functions over a model and a loader."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from pointnet.losses import classification_loss
from pointnet.metrics import ConfusionMatrix


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss; the run stops and keeps its last good checkpoint."""


@dataclass
class EpochStats:
    """Means over the epoch's training steps, and where the time went."""

    loss: float
    reg_loss: float
    accuracy: float
    samples: int
    seconds: float
    data_seconds: float

    @property
    def samples_per_second(self) -> float:
        return self.samples / max(self.seconds, 1e-9)

    @property
    def data_share(self) -> float:
        """Fraction of the epoch spent waiting for batches."""
        return self.data_seconds / max(self.seconds, 1e-9)


def _timed(batches: Iterable) -> Iterator[tuple[float, object]]:
    """Yield ``(seconds spent fetching, batch)`` for each batch."""
    it = iter(batches)
    while True:
        start = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            return
        yield time.perf_counter() - start, batch


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    reg_weight: float,
    device: torch.device,
    on_step: Callable[[int, float, float, float], None] | None = None,
    description: str = "train",
    progress: bool = True,
) -> EpochStats:
    """Forward, loss (cross-entropy + ``reg_weight`` x orthogonality), backward, step for each batch.

    ``on_step(batch_index, loss, reg_loss, accuracy)`` runs after each step (logging, and noting
    progress so an interrupt can save where it stopped). A non-finite loss raises
    ``NonFiniteLossError`` before the optimiser step, so the weights stay finite. ``progress=False``
    hides the progress bar (ranks other than 0).
    """
    model.train()
    total = dict(loss=0.0, reg=0.0, correct=0, samples=0, data=0.0)
    start = time.perf_counter()
    for index, (wait, (points, labels)) in enumerate(tqdm(_timed(batches), desc=description, leave=False,
                                                           total=_len(batches), disable=None if progress else True)):
        points = points.to(device=device, dtype=_dtype(model), non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        logits, transform = model(points)  # (B, K), (B, 64, 64) | None
        loss, reg = classification_loss(logits, labels, transform, reg_weight)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(f"loss became {loss_value} at batch {index}; stopping")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        correct = int((logits.argmax(dim=1) == labels).sum())
        batch = labels.shape[0]
        total["loss"] += loss_value * batch
        total["reg"] += reg.item() * batch
        total["correct"] += correct
        total["samples"] += batch
        total["data"] += wait
        if on_step is not None:
            on_step(index, loss_value, reg.item(), correct / batch)
    n = max(total["samples"], 1)
    return EpochStats(total["loss"] / n, total["reg"] / n, total["correct"] / n, total["samples"],
                      time.perf_counter() - start, total["data"])


def rotate_about_z(points: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate ``(B, N, 3)`` points by ``angle`` radians about the up (z) axis."""
    c, s = math.cos(angle), math.sin(angle)
    rotation = points.new_tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return points @ rotation  # (B, N, 3) @ (3, 3)


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
) -> ConfusionMatrix:
    """Accumulate a confusion matrix and summed loss over every shape the loader yields."""
    model.eval()
    confusion = ConfusionMatrix.empty(num_classes)
    for points, labels in tqdm(batches, desc=description, leave=False, total=_len(batches),
                               disable=None if progress else True):
        points, labels = points.to(device=device, dtype=_dtype(model)), labels.to(device)
        logits, transform = predict_logits(model, points, votes)
        loss, _ = classification_loss(logits, labels, transform, reg_weight)
        confusion.update(logits, labels, loss.item() * labels.shape[0])
    return confusion


def _len(batches: Iterable) -> int | None:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def _dtype(model: nn.Module) -> torch.dtype:
    """The floating-point type of the model's parameters (float32, or float64 with train.precision)."""
    return next(model.parameters()).dtype
