"""Optimisers, learning-rate schedules and the BatchNorm momentum schedule, chosen by name."""
from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

import torch
from torch import nn
from torch.optim import lr_scheduler

OPTIMIZERS = MappingProxyType({"adam": torch.optim.Adam, "sgd": torch.optim.SGD})
SCHEDULERS = ("step", "cosine", "constant")


def build_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, weight_decay: float = 0.0, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``adam`` (the paper's) or ``sgd`` with momentum."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return OPTIMIZERS[name](params, lr=lr, weight_decay=weight_decay)


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, epochs: int, step_size: int = 20, gamma: float = 0.5,
    min_lr: float = 1e-5,
) -> lr_scheduler.LRScheduler:
    """Per-epoch schedule: ``step`` (lr * gamma every step_size epochs), ``cosine`` or ``constant``."""
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
