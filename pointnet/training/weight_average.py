"""An exponential moving average of a model's weights, the model that is validated, tested and saved.

Polyak averaging (Polyak & Juditsky 1992) as timm's ``ModelEmaV3`` does it: after every optimiser step
each floating-point parameter and buffer (BatchNorm running statistics included) moves a share
``1 - d`` towards the trained model's, with ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
so the first updates follow the young model closely (the warm-up of TensorFlow's
``ExponentialMovingAverage(num_updates=...)``). Integer buffers are copied.
"""
from __future__ import annotations

import copy
from typing import Generic, TypeVar

import torch
from torch import nn

ModelT = TypeVar("ModelT", bound=nn.Module)


class WeightAverage(Generic[ModelT]):
    """``model``: a frozen copy of the trained model holding the average; ``updates``: steps averaged."""

    def __init__(self, trained: ModelT, decay: float) -> None:
        self.decay, self.updates = decay, 0
        self.model: ModelT = copy.deepcopy(trained)
        self.model.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update applies."""
        n = self.updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, trained: nn.Module) -> None:
        """Move the average towards ``trained`` (same architecture) by one step."""
        weight = 1.0 - self.current_decay()
        for average, live in zip(self.model.state_dict().values(), trained.state_dict().values(), strict=True):
            if average.is_floating_point():
                average.lerp_(live, weight)
            else:
                average.copy_(live)
        self.updates += 1
