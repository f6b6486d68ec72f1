"""Shared MLPs: the same Linear(+BatchNorm)(+ReLU) layers applied to every point of a cloud.

Three ways to write one function, selected by name (see ``SHARED_MLPS``):

- ``linear``: ``nn.Linear`` over a points-major ``(B, N, C)`` tensor; BatchNorm normalises each
  channel over all ``B*N`` points through a contiguous ``(B*N, C)`` view.
- ``conv1d``: ``nn.Conv1d(kernel_size=1)`` over a channels-major ``(B, C, N)`` tensor.
- ``loop``: a Python loop applying ``nn.Linear`` to each point's ``(B, C)`` slice. BatchNorm runs on the
  stacked result, because normalising point by point would compute a different function.

Every variant takes and returns points-major ``(B, N, C)`` tensors, converts layout once at the
boundary of the stack (never per layer), and has the same constructor signature and parameter names
(``layers.{i}.fc.weight`` of shape ``(out, in)``, ``layers.{i}.bn.*``), so a ``state_dict`` saved from
any variant loads with ``strict=True`` into any other.

``fast=True`` (the default) runs ``linear`` and ``conv1d`` through ``pointnet.nn.fast_path``: the same
function, on one ``(B*N, C)`` layout, and on a CPU with BatchNorm folded away in inference and a fused
Linear+BatchNorm+ReLU+max-pool kernel for the pooled last layer (``pool``). ``fast=False`` runs the
plain per-layer code below, which is what the fast path is tested against. ``loop`` has one form.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from pointnet.nn import fast_path


def _squeeze_kernel(state_dict: dict, prefix: str) -> None:
    """Turn a stored Conv1d weight ``(out, in, 1)`` into the canonical Linear form ``(out, in)``."""
    key = prefix + "weight"
    weight = state_dict.get(key)
    if weight is not None and weight.dim() == 3:
        if weight.shape[-1] != 1:
            raise ValueError(f"{key}: expected a kernel of size 1, got shape {tuple(weight.shape)}")
        state_dict[key] = weight.squeeze(-1)


class PointConv1d(nn.Conv1d):
    """``nn.Conv1d(in, out, kernel_size=1)`` whose state_dict stores the weight as ``(out, in)``.

    A 1x1 convolution and a Linear layer hold the same numbers; storing one form makes checkpoints
    variant-agnostic. Loading accepts either form.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, kernel_size=1, bias=bias)
        self.register_state_dict_post_hook(PointConv1d._store_as_matrix)
        self.register_load_state_dict_pre_hook(PointConv1d._load_as_kernel)

    @staticmethod
    def _store_as_matrix(module: nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
        _squeeze_kernel(state_dict, prefix)

    @staticmethod
    def _load_as_kernel(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
        key = prefix + "weight"
        weight = state_dict.get(key)
        if weight is not None and weight.dim() == 2:
            state_dict[key] = weight.unsqueeze(-1)


class PointLinear(nn.Linear):
    """``nn.Linear`` that also loads a Conv1d-style ``(out, in, 1)`` weight (e.g. from other ports)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.register_load_state_dict_pre_hook(PointLinear._load_as_matrix)

    @staticmethod
    def _load_as_matrix(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
        _squeeze_kernel(state_dict, prefix)


class SharedLayer(nn.Module):
    """One per-point layer: ``fc`` (PointLinear or PointConv1d), optional ``bn``, optional ReLU."""

    def __init__(self, fc: nn.Linear | nn.Conv1d, out_features: int, batch_norm: bool, relu: bool) -> None:
        super().__init__()
        self.fc: nn.Linear | nn.Conv1d = fc
        self.bn: nn.BatchNorm1d | None = nn.BatchNorm1d(out_features) if batch_norm else None
        self.relu: bool = relu


class SharedMLP(nn.Module):
    """A stack of per-point layers ``channels[0] -> channels[1] -> ... -> channels[-1]``.

    Args:
        channels: widths, input first; ``(3, 64, 64)`` builds two layers.
        batch_norm: BatchNorm after every Linear.
        last_relu: ReLU after the last layer too (hidden layers always have one).
        fast: run through ``pointnet.nn.fast_path`` where the variant has one (``has_fast_path``);
            an attribute, so it can be switched on a built module.

    ``forward`` maps ``(B, N, channels[0]) -> (B, N, channels[-1])``; ``pool`` maps
    ``(B, N, channels[0]) -> (B, channels[-1])``, the max over points. Subclasses choose the layer type
    (``fc_type``), the working layout (``to_layout`` / ``from_layout``) and how one layer runs (``layer``).
    """

    fc_type: type[PointLinear] | type[PointConv1d] = PointLinear
    has_fast_path: bool = True

    def __init__(
        self, channels: Sequence[int], batch_norm: bool = True, last_relu: bool = True, fast: bool = True
    ) -> None:
        super().__init__()
        self.fast = bool(fast) and self.has_fast_path
        if len(channels) < 2:
            raise ValueError(f"a shared MLP needs at least two widths, got {list(channels)}")
        self.channels = tuple(int(c) for c in channels)
        last = len(channels) - 2
        self.layers = nn.ModuleList(
            SharedLayer(self.fc_type(c_in, c_out), c_out, batch_norm, relu=i < last or last_relu)
            for i, (c_in, c_out) in enumerate(itertools.pairwise(channels))
        )

    @property
    def shared_layers(self) -> Sequence[SharedLayer]:
        """``layers`` as the ``SharedLayer``s they are (``nn.ModuleList`` types its items as ``nn.Module``)."""
        return cast(Sequence[SharedLayer], self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast:
            return fast_path.forward_rows(self.shared_layers, x)
        x = self.to_layout(x)
        for layer in self.shared_layers:
            x = self.layer(layer, x)
        return self.from_layout(x)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Max over points of ``forward(x)``: ``(B, N, C_0) -> (B, C_last)`` (PointNet's symmetric
        function); the fast path never materialises the last ``(B, N, C_last)`` activation."""
        if self.fast:
            return fast_path.pool_rows(self.shared_layers, x)
        return self(x).amax(dim=1)  # (B, N, C) -> (B, C)

    def to_layout(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def from_layout(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def layer(self, layer: SharedLayer, x: torch.Tensor) -> torch.Tensor:
        """One layer on ``(B, N, C_in) -> (B, N, C_out)``; BatchNorm sees a ``(B*N, C)`` view."""
        x = layer.fc(x)
        if layer.bn is not None:
            x = layer.bn(x.flatten(0, 1)).view_as(x)
        return F.relu(x) if layer.relu else x


class LinearSharedMLP(SharedMLP):
    """``nn.Linear`` on points-major ``(B, N, C)``: the matmul ``(B*N, C_in) @ (C_in, C_out)``."""


class Conv1dSharedMLP(SharedMLP):
    """``nn.Conv1d(kernel_size=1)`` on channels-major ``(B, C, N)``, as most PointNet ports write it."""

    fc_type = PointConv1d

    def to_layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)  # (B, N, C) -> (B, C, N)

    def from_layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)  # (B, C, N) -> (B, N, C)

    def layer(self, layer: SharedLayer, x: torch.Tensor) -> torch.Tensor:
        x = layer.fc(x)
        if layer.bn is not None:
            x = layer.bn(x)
        return F.relu(x) if layer.relu else x


class LoopSharedMLP(SharedMLP):
    """The plainest statement of the idea: the same ``nn.Linear`` applied point by point.

    ``unbind`` hands out all N point slices at once; indexing ``x[:, n]`` instead would give each
    slice its own backward node that writes a full-size zero gradient, making backward quadratic in N.
    """

    has_fast_path = False

    def layer(self, layer: SharedLayer, x: torch.Tensor) -> torch.Tensor:
        x = torch.stack([layer.fc(point) for point in x.unbind(1)], dim=1)  # N x (B, C) -> (B, N, C)
        if layer.bn is not None:
            x = layer.bn(x.flatten(0, 1)).view_as(x)
        return F.relu(x) if layer.relu else x


SHARED_MLPS: Mapping[str, type[SharedMLP]] = MappingProxyType({
    "linear": LinearSharedMLP,
    "conv1d": Conv1dSharedMLP,
    "loop": LoopSharedMLP,
})


def shared_mlp_class(name: str) -> type[SharedMLP]:
    """Map a variant name to its class; an unknown name lists the valid ones."""
    try:
        return SHARED_MLPS[name]
    except KeyError:
        raise ValueError(f"unknown shared_mlp {name!r}; choose one of {sorted(SHARED_MLPS)}") from None
