"""How a shared-MLP stack runs when built with ``fast=True`` (the ``linear`` and ``conv1d`` variants).

One layout through the whole stack: the ``(B, N, C)`` input is viewed once as ``(B*N, C)`` rows and
every layer is a plain matrix product on rows (Conv1d weights ``(out, in, 1)`` are viewed as
``(out, in)``), BatchNorm normalises the same rows, ReLU runs in place. Per layer, the first case
that applies:

- no gradient needed and BatchNorm using running statistics (eval under ``torch.no_grad()``):
  BatchNorm is folded into the weights, one ``addmm`` + in-place ReLU;
- otherwise the ops of the plain form on rows (autograd as usual).

The max-pooled last layer (``SharedMLP.pool``) additionally avoids the ``(B, N, C)`` activation:
in the folded case the max is taken before bias and ReLU (``pointnet.nn.fused.pooled_eval``); with batch
statistics the fused kernel with its sparse backward runs (``pointnet.nn.fused.pooled_linear_bn_relu``).
Everything else (other devices, ``torch.autocast`` regions) falls back to the plain ops, so the result
is always the plain form's function.

The folded and fused kernels are CPU kernels: they trade a few large passes over memory for many
small ops. On a GPU (measured on an H200, PyTorch 2.11) that made a batch-32 training step slower
than the plain ops (16.6 vs 9.3 ms; same results, a third of the memory), so other devices run the
plain ops on the row layout.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from pointnet.nn.fused import fold_batch_norm, pooled_eval, pooled_linear_bn_relu, uses_batch_stats


class Layer(Protocol):
    """What this module reads of a ``pointnet.nn.shared_mlp.SharedLayer`` (which imports this module)."""

    fc: nn.Linear | nn.Conv1d
    bn: nn.BatchNorm1d | None
    relu: bool

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...


def _weight(layer: Layer) -> torch.Tensor:
    return layer.fc.weight.flatten(1)  # Linear (out, in) or Conv1d (out, in, 1) -> (out, in)


def _needs_grad(layer: Layer, x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in layer.parameters()))


def _cpu_kernels(x: torch.Tensor) -> bool:
    """The folded and fused kernels apply: a CPU tensor, no autocast (they compute in ``x``'s dtype)."""
    return x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")


def _foldable(layer: Layer, x: torch.Tensor) -> bool:
    """On a CPU, BatchNorm (if any) uses running statistics and nothing needs a gradient."""
    return (
        _cpu_kernels(x)
        and (layer.bn is None or not uses_batch_stats(layer.bn))
        and not _needs_grad(layer, x)
    )


def layer_rows(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """One ``SharedLayer`` on rows: ``(B*N, C_in) -> (B*N, C_out)``."""
    if _foldable(layer, x):
        weight, bias = fold_batch_norm(_weight(layer), layer.fc.bias, layer.bn)
        x = torch.addmm(bias, x, weight.t())  # (B*N, C_out)
    else:
        x = F.linear(x, _weight(layer), layer.fc.bias)
        if layer.bn is not None:
            x = layer.bn(x)
    return x.relu_() if layer.relu else x


def forward_rows(layers: Sequence[Layer], x: torch.Tensor) -> torch.Tensor:
    """The whole stack: ``(B, N, C_0) -> (B, N, C_last)``."""
    batch, points, c_in = x.shape
    rows = x.reshape(batch * points, c_in)
    for layer in layers:
        rows = layer_rows(layer, rows)
    return rows.view(batch, points, -1)


def _fused_trainable(layer: Layer, x: torch.Tensor) -> bool:
    """The fused batch-statistics kernel covers this layer on this input (else the plain ops, which
    also raise BatchNorm's own error for a single row)."""
    bn = layer.bn
    rows = x.shape[0] * x.shape[1]
    return (
        _cpu_kernels(x)
        and bn is not None
        and uses_batch_stats(bn)
        and bn.weight is not None
        and bn.bias is not None
        and rows > 1
        and not bool((bn.weight == 0).any())  # a zero scale ties every point: plain amax handles it
    )


def pool_last(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """The last layer followed by the max over points: ``(B, N, C_in) -> (B, C_out)``."""
    batch, points, c_in = x.shape
    if _foldable(layer, x):
        weight, bias = fold_batch_norm(_weight(layer), layer.fc.bias, layer.bn)
        return pooled_eval(x, weight, bias, layer.relu)
    if layer.bn is not None and _fused_trainable(layer, x):
        return pooled_linear_bn_relu(x, _weight(layer), layer.fc.bias, layer.bn, layer.relu)
    return layer_rows(layer, x.reshape(batch * points, c_in)).view(batch, points, -1).amax(dim=1)


def pool_rows(layers: Sequence[Layer], x: torch.Tensor) -> torch.Tensor:
    """The whole stack and the max over points: ``(B, N, C_0) -> (B, C_last)``."""
    return pool_last(layers[-1], forward_rows(layers[:-1], x))
