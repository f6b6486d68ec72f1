"""What a training run saves and restores: model, optimiser, schedule, RNG and progress counters.

``TrainingState`` is the run's memory. ``checkpoint()`` is a dict of plain types (see
``pointnet.training.checkpoint``), so a run resumes exactly from any ``last.pt``, under any world
size, and a checkpoint loads anywhere with ``weights_only=True``.
"""
from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pointnet.nn.model import PointNet
from pointnet.roles import leaves, under
from pointnet.training import distributed as dist
from pointnet.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from pointnet.training.optim import build_optimizer, build_scheduler
from pointnet.training.precision import precision
from pointnet.training.settings import Recipe
from pointnet.training.weight_average import WeightAverage

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where a run stands: ``epoch`` in progress (0-based) and batches of it already done."""

    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    best_val: tuple[float, float] = (-1.0, float("-inf"))  # (val acc, -val loss): higher is better
    history: list[dict[str, float]] = field(default_factory=list)
    partial: dict[str, Any] | None = None  # the running sums of the epoch in progress (EpochTotals fields)


def scaled_lr(lr: float, scaling: str, global_batch: int, batch_size: int) -> float:
    """``train.lr`` under ``train.distributed.lr_scaling``: ``linear`` scales it by global batch / ``batch_size``."""
    return lr * global_batch / batch_size if scaling == "linear" else lr


def config_differences(saved: dict[str, Any], current: dict[str, Any], may_differ: Collection[str]) -> list[str]:
    """``"key: saved -> current"`` for each dotted key of ``saved`` whose value differs, except keys under
    ``may_differ`` (keys ``saved`` lacks, added since it was written, are not compared)."""
    a, b = dict(leaves(saved)), dict(leaves(current))
    return [f"{k}: {a[k]!r} -> {b.get(k, '(unset)')!r}" for k in sorted(a)
            if not under(k, may_differ) and a[k] != b.get(k)]


def match_moment_shapes(optimizer: torch.optim.Optimizer) -> None:
    """Reshape loaded optimiser state tensors to their parameter's shape when only the layout differs.

    A Conv1d-variant checkpoint holds Adam moments of shape ``(out, in, 1)``; under the Linear or loop
    variant the same numbers belong to a ``(out, in)`` weight (and the other way round).
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if (isinstance(value, torch.Tensor) and value.shape != param.shape and value.dim() > 0
                        and value.numel() == param.numel()):
                    optimizer.state[param][key] = value.reshape(param.shape)


class TrainingState:
    """The model, its optimiser and schedule, and the progress counters of one run.

    ``config`` is the run's resolved config as a plain dict, stored in every checkpoint so that
    eval, predict and resume know what was trained. With ``train.ema_decay`` > 0, ``average`` holds a
    moving average of the weights: it is the ``evaluated`` model (validated, tested, and a
    checkpoint's ``model``, so eval, predict and export use it), while ``model`` trains and a
    checkpoint keeps it as ``trained_model`` for resuming.
    """

    def __init__(self, model_args: dict[str, Any], classes: list[str], recipe: Recipe, global_batch: int,
                 device: torch.device, config: dict[str, Any]) -> None:
        t, d = recipe.train, recipe.train.distributed
        self.model_args, self.classes, self.config = model_args, list(classes), config
        self.base_lr, self.global_batch, self.world_size = t.lr, global_batch, dist.world_size()
        self.lr = scaled_lr(t.lr, d.lr_scaling, global_batch, t.batch_size)
        self.model = PointNet(**model_args).to(device=device, dtype=precision(t.precision).parameters)
        if d.sync_batchnorm and dist.active():
            dist.use_sync_batchnorm(self.model)
            self.model.fast = False  # the fused fast path computes BatchNorm statistics itself, per rank
        self.average = WeightAverage(self.model, t.ema_decay) if t.ema_decay > 0 else None
        o, s = recipe.optimizer, recipe.scheduler
        self.optimizer = build_optimizer(o.name, self.model.parameters(), self.lr, o.weight_decay, o.momentum)
        self.scheduler = build_scheduler(s.name, self.optimizer, t.epochs, s.step_size, s.gamma, s.min_lr,
                                         s.warmup_epochs)
        self.progress = Progress()

    @property
    def evaluated(self) -> PointNet:
        """The model that is validated, tested and saved as a checkpoint's ``model``."""
        return self.model if self.average is None else self.average.model

    def checkpoint(self) -> dict[str, Any]:
        p = self.progress
        averaged = {} if self.average is None else {"trained_model": self.model.state_dict(),
                                                    "average_updates": self.average.updates}
        return {
            "model": self.evaluated.state_dict(),
            **averaged,
            "model_args": self.model_args,
            "classes": self.classes,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "progress": {"epoch": p.epoch, "batch": p.batch, "global_step": p.global_step,
                         "best_val": list(p.best_val), "history": p.history, "partial": p.partial,
                         "global_batch": self.global_batch, "lr_factor": self.lr / self.base_lr,
                         "world_size": self.world_size},
            "config": self.config,
        }

    def save(self, path: Path) -> Path:
        """Write a checkpoint (rank 0 only: every rank holds the same weights)."""
        return save_checkpoint(self.checkpoint(), path) if dist.rank() == 0 else path

    def restore(self, path: Path, may_differ: Collection[str] = ()) -> None:
        """Continue from ``path`` (read by rank 0, sent to the others), under any world size or variant.

        The checkpoint's config must equal this run's except for the dotted keys (or key prefixes)
        in ``may_differ``; otherwise ``CheckpointError`` lists the keys that differ. With another
        global batch than the checkpoint's (``batch_scope=per_rank`` and another world size), the done
        part of the epoch is converted to whole batches of the new size, rounding down (a few shapes
        may be seen twice), and a linearly scaled learning rate is rescaled. Optimiser moments are
        reshaped like the weights (Conv1d ``(out, in, 1)`` and Linear ``(out, in)``).
        """
        state = dist.on_main(load_checkpoint, path)
        if state["classes"] != self.classes:
            raise CheckpointError(path, f"trained on classes {state['classes']}, the data has {self.classes}",
                                  "resume with the data it was trained on, or start a new run")
        differ = config_differences(state.get("config") or {}, self.config, may_differ)
        if differ:
            raise CheckpointError(path, "trained with other settings: " + "; ".join(differ),
                                  "resume with the same settings, or start a new run")
        load_weights(self.evaluated, state["model"], path)
        if self.average is not None:
            load_weights(self.model, state["trained_model"], path)
            self.average.updates = state["average_updates"]
        self.optimizer.load_state_dict(state["optimizer"])
        match_moment_shapes(self.optimizer)
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        p = state["progress"]
        batch = p["batch"] * p.get("global_batch", self.global_batch) // self.global_batch
        partial = p.get("partial") if batch == p["batch"] else None  # sums only where the batches map 1:1
        self.progress = Progress(p["epoch"], batch, p["global_step"], tuple(p["best_val"]), p["history"], partial)
        factor = self.lr / self.base_lr
        self.rescale_lr(factor / p.get("lr_factor", factor))
        log.info("resumed from %s at epoch %d, batch %d (saved by %d rank(s), now %d)", path, p["epoch"] + 1,
                 batch, p.get("world_size", 1), self.world_size)

    def rescale_lr(self, factor: float) -> None:
        """Multiply the learning rate (current, initial and the scheduler's base) by ``factor``.

        Training reads the rate from the optimiser's groups; the scheduler's ``get_last_lr()``
        catches up at its next ``step()``.
        """
        if factor == 1.0:
            return
        for group in self.optimizer.param_groups:
            group["lr"] *= factor
            if "initial_lr" in group:
                group["initial_lr"] *= factor
        for scheduler in [self.scheduler, *getattr(self.scheduler, "_schedulers", [])]:  # warm-up: SequentialLR
            scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
