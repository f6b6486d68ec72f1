"""Size and cost of a model: parameter counts and multiply-adds per sample."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (weights, biases and BatchNorm affine parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def multiply_adds_per_sample(model: nn.Module, num_points: int = 1024, batch_size: int = 2) -> int:
    """Multiply-adds of one forward pass per sample, counted by ``torch.utils.flop_counter``.

    The counter reports 2 FLOPs per multiply-add of matmuls, convolutions and bmm; this returns
    multiply-adds, the unit of the paper's Table 6 ("FLOPs" there count one multiply-add as one).
    Runs in eval mode on random points; the model's mode is restored.
    """
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    channels = getattr(model, "in_channels", 3)
    points = torch.randn(batch_size, num_points, channels, dtype=param.dtype, device=param.device)  # (B, N, C)
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(points)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // (2 * batch_size)
