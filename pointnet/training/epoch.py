"""One epoch of training: forward, loss, backward and step over every batch of a loader."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from pointnet.nn.losses import classification_loss
from pointnet.training.precision import autocast


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
    precision: str = "float32",
) -> EpochStats:
    """Forward, loss (cross-entropy + ``reg_weight`` x orthogonality), backward, step for each batch.

    ``on_step(batch_index, loss, reg_loss, accuracy)`` runs after each step (logging, and noting
    progress so an interrupt can save where it stopped). A non-finite loss raises
    ``NonFiniteLossError`` before the optimiser step, so the weights stay finite. ``progress=False``
    hides the progress bar (ranks other than 0). ``precision``: ``train.precision`` (autocast for ``bf16``).
    """
    model.train()
    total = dict(loss=0.0, reg=0.0, correct=0, samples=0, data=0.0)
    start = time.perf_counter()
    bar = tqdm(_timed(batches), desc=description, leave=False, total=batch_count(batches),
               disable=None if progress else True)
    for index, (wait, (points, labels)) in enumerate(bar):
        points = points.to(device=device, dtype=model_dtype(model), non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        with autocast(precision, device):
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


def batch_count(batches: Iterable) -> int | None:
    """``len(batches)`` where the loader has one (a progress bar's total), else None."""
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating-point type of the model's parameters (float32, or float64 with train.precision)."""
    return next(model.parameters()).dtype
