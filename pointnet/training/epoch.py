"""Training: ``Trainer.step``, one step of the recipe read top to bottom, and ``Trainer.epoch`` over a loader."""
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
from pointnet.runtime.threads import ThreadGovernor
from pointnet.training.precision import autocast
from pointnet.training.settings import TrainSettings
from pointnet.training.state import Progress
from pointnet.training.weight_average import WeightAverage

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


class Trainer:
    """Training steps of one recipe: ``step`` reads top to bottom (forward, loss, backward, clip, optimiser
    step, weight average, counters, log, stop check), and ``epoch`` runs it over a loader's batches.

    ``net`` is what trains (the model itself, or it wrapped in DistributedDataParallel or compiled: the same
    parameters); ``model`` is the plain module whose moving ``average`` follows it (None: no average).
    ``settings`` is the recipe: ``reg_weight``, ``label_smoothing``, ``grad_clip``, ``cutmix_prob``,
    ``cutmix_beta``, ``precision`` and ``log_every`` are read from it. ``progress``: the counters each step
    advances (a run's ``Progress``; default: a fresh one). ``report(values, global_step)`` gets the
    step's losses every ``log_every`` steps; ``threads`` is told of every step; ``after_step()`` is the step's
    last act (the loop's stop check, which may raise; a benchmark's clock). ``totals``: the epoch's running
    sums (a resumed epoch starts from those its checkpoint carried).
    """

    def __init__(self, net: nn.Module, optimizer: torch.optim.Optimizer, settings: TrainSettings,
                 device: torch.device, *, model: nn.Module | None = None, average: WeightAverage | None = None,
                 progress: Progress | None = None,
                 report: Callable[[dict[str, float], int], None] | None = None,
                 threads: ThreadGovernor | None = None, after_step: Callable[[], None] | None = None) -> None:
        self.net, self.optimizer, self.settings, self.device = net, optimizer, settings, device
        self.model, self.average = model if model is not None else net, average
        self.progress = progress if progress is not None else Progress()
        self.report, self.threads, self.after_step = report, threads, after_step
        self.totals = EpochTotals()

    def step(self, points: torch.Tensor, labels: torch.Tensor, wait: float = 0.0) -> None:
        """One optimisation step on ``points (B, N, C)`` and ``labels (B,)``; ``wait``: seconds the batch took
        to arrive. A non-finite loss raises ``NonFiniteLossError`` before the optimiser step."""
        t, p = self.settings, self.progress
        points = points.to(device=self.device, dtype=model_dtype(self.net), non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        mixed = point_cutmix(points, labels, t.cutmix_prob, t.cutmix_beta)
        partner = (mixed.partner_labels, mixed.partner_weight) if mixed else (None, 0.0)
        with autocast(t.precision, self.device):
            logits, transform = self.net(mixed.points if mixed else points)  # (B, K), (B, 64, 64) | None
            loss, reg = classification_loss(logits, labels, transform, t.reg_weight, t.label_smoothing, *partner)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(f"loss became {loss_value} at batch {p.batch}; stopping")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if t.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.net.parameters(), t.grad_clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update(self.model)
        correct = int((logits.argmax(dim=1) == labels).sum())  # against the unmixed labels
        reg_value = reg.item()
        self.totals.add(loss_value, reg_value, correct, labels.shape[0], wait)
        p.batch += 1
        p.global_step += 1
        if self.threads is not None:
            self.threads.observe_step()
        if self.report is not None and p.global_step % t.log_every == 0:
            self.report({"train/step_loss": loss_value, "train/step_reg_loss": reg_value}, p.global_step)
        if self.after_step is not None:
            self.after_step()

    def epoch(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], description: str = "train",
              show_progress: bool = True) -> EpochStats:
        """``step`` over every batch, under a progress bar (``show_progress=False``: none, as on ranks > 0);
        the epoch's statistics from ``totals``."""
        self.net.train()
        start = time.perf_counter()
        bar = tqdm(_timed(batches), desc=description, leave=False, total=batch_count(batches),
                   disable=None if show_progress else True)
        for wait, (points, labels) in bar:
            self.step(points, labels, wait)
        return self.totals.stats(time.perf_counter() - start)


def batch_count(batches: Iterable) -> int | None:
    """``len(batches)`` where the loader has one (a progress bar's total), else None."""
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating-point type of the model's parameters (float32, or float64 with train.precision)."""
    return next(model.parameters()).dtype
