"""Optimisers, learning-rate schedules and the BatchNorm momentum schedule, chosen by name."""
from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import torch
from torch import nn
from torch.optim import lr_scheduler

OPTIMIZERS = MappingProxyType({"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD})
SCHEDULERS = ("step", "cosine", "constant")


def build_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``adam`` (the paper's; ``weight_decay`` is L2 in the gradient), ``adamw`` (decoupled weight
    decay, Loshchilov & Hutter 2019) or ``sgd`` with momentum."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, epochs: int, step_size: int = 20, gamma: float = 0.5,
    min_lr: float = 1e-5, warmup_epochs: int = 0,
) -> lr_scheduler.LRScheduler:
    """Per-epoch schedule: ``step`` (lr * gamma every step_size epochs), ``cosine`` or ``constant``.

    ``warmup_epochs`` ``W > 0`` first raises the lr linearly, ``lr * (e + 1) / (W + 1)`` in epoch
    ``e < W``, then runs the schedule over the remaining ``epochs - W`` epochs (cosine ends at
    ``min_lr`` in the last epoch either way).
    """
    if warmup_epochs <= 0:
        return _main_scheduler(name, optimizer, epochs, step_size, gamma, min_lr)
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / (warmup_epochs + 1), end_factor=1.0,
                                   total_iters=warmup_epochs)
    main = _main_scheduler(name, optimizer, epochs - warmup_epochs, step_size, gamma, min_lr)
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warmup_epochs])


def _main_scheduler(name: str, optimizer: torch.optim.Optimizer, epochs: int, step_size: int, gamma: float,
                    min_lr: float) -> lr_scheduler.LRScheduler:
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=min_lr)
    return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def bn_momentum(epoch: int, start: float = 0.5, decay: float = 0.5, step_size: int = 20,
                minimum: float = 0.01) -> float:
    """PyTorch BatchNorm momentum for ``epoch`` (0-based).

    The original TensorFlow code decays BN "decay" from 0.5 to 0.99 (staircase); PyTorch's momentum
    is ``1 - decay``, hence 0.5 -> 0.01.
    """
    return max(minimum, start * decay ** (epoch // step_size))


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """Set ``momentum`` on every BatchNorm layer of ``model``."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
