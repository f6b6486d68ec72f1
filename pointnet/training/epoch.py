"""One epoch of training: forward, loss, backward and step over every batch of a loader."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn
from tqdm.auto import tqdm

from pointnet.data.pipeline.point_cutmix import point_cutmix
from pointnet.nn.losses import classification_loss
from pointnet.training.precision import autocast

T = TypeVar("T")


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


@dataclass
class EpochTotals:
    """Running sums of one epoch's steps; kept by the loop so a mid-epoch checkpoint carries them.

    ``loss`` and ``reg`` are sums of per-sample losses (mean times batch size), ``data`` seconds spent
    waiting for batches. A resumed epoch continues these sums, so its means count every batch.
    """

    loss: float = 0.0
    reg: float = 0.0
    correct: int = 0
    samples: int = 0
    data: float = 0.0

    def add(self, loss: float, reg: float, correct: int, samples: int, wait: float) -> None:
        self.loss += loss * samples
        self.reg += reg * samples
        self.correct += correct
        self.samples += samples
        self.data += wait

    def stats(self, seconds: float) -> EpochStats:
        n = max(self.samples, 1)
        return EpochStats(self.loss / n, self.reg / n, self.correct / n, self.samples, seconds, self.data)


def _timed(batches: Iterable[T]) -> Iterator[tuple[float, T]]:
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
    label_smoothing: float = 0.0,
    grad_clip: float = 0.0,
    cutmix_prob: float = 0.0,
    cutmix_beta: float = 1.0,
    on_step: Callable[[int, float, float, float], None] | None = None,
    description: str = "train",
    progress: bool = True,
    totals: EpochTotals | None = None,
    precision: str = "float32",
) -> EpochStats:
    """Forward, loss (cross-entropy + ``reg_weight`` x orthogonality), backward, step for each batch.

    ``label_smoothing`` smooths the cross-entropy's targets; ``grad_clip > 0`` scales the gradients
    down to that global L2 norm before each step (``torch.nn.utils.clip_grad_norm_``), 0 leaves them.
    ``cutmix_prob`` > 0 mixes that share of the batches by PointCutMix-R (``point_cutmix``, ratio
    ``Beta(cutmix_beta, cutmix_beta)``); training accuracy counts the unmixed labels.

    ``on_step(batch_index, loss, reg_loss, accuracy)`` runs after each step (logging, and noting
    progress so an interrupt can save where it stopped). A non-finite loss raises
    ``NonFiniteLossError`` before the optimiser step, so the weights stay finite. ``progress=False``
    hides the progress bar (ranks other than 0). ``totals``: the sums to continue (updated in place
    before each ``on_step``; a resumed epoch passes what its checkpoint carried).
    ``precision``: ``train.precision`` (autocast for ``bf16``).
    """
    model.train()
    totals = EpochTotals() if totals is None else totals
    start = time.perf_counter()
    bar = tqdm(_timed(batches), desc=description, leave=False, total=batch_count(batches),
               disable=None if progress else True)
    for index, (wait, (points, labels)) in enumerate(bar):
        points = points.to(device=device, dtype=model_dtype(model), non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        mixed = point_cutmix(points, labels, cutmix_prob, cutmix_beta)
        partner = (mixed.partner_labels, mixed.partner_weight) if mixed else (None, 0.0)
        points = mixed.points if mixed else points
        with autocast(precision, device):
            logits, transform = model(points)  # (B, K), (B, 64, 64) | None
            loss, reg = classification_loss(logits, labels, transform, reg_weight, label_smoothing, *partner)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(f"loss became {loss_value} at batch {index}; stopping")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        correct = int((logits.argmax(dim=1) == labels).sum())
        batch = labels.shape[0]
        totals.add(loss_value, reg.item(), correct, batch, wait)
        if on_step is not None:
            on_step(index, loss_value, reg.item(), correct / batch)
    return totals.stats(time.perf_counter() - start)


def batch_count(batches: Iterable) -> int | None:
    """``len(batches)`` where the loader has one (a progress bar's total), else None."""
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating-point type of the model's parameters (float32, or float64 with train.precision)."""
    return next(model.parameters()).dtype
