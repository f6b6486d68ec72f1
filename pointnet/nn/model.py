"""The PointNet classifier of Qi et al., CVPR 2017 ("PointNet: Deep Learning on Point Sets ...").

The network alone: no training loop, no logging, no config system. One definition serves every
shared-MLP variant (``linear``, ``conv1d``, ``loop``); only the per-point layer type changes, so the
parameter names, counts and the function computed are the same for all of them.
"""
from __future__ import annotations

import torch
from torch import nn

from pointnet.nn.shared_mlp import SharedMLP, shared_mlp_class


class FullyConnected(nn.Sequential):
    """Linear -> BatchNorm -> ReLU on a ``(B, C)`` batch of global features."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.bn: nn.BatchNorm1d | nn.Identity = nn.BatchNorm1d(out_features)  # Identity once folded for export
        self.relu = nn.ReLU()


class TNet(nn.Module):
    """Predicts a ``k x k`` alignment matrix from a ``(B, N, k)`` cloud (the paper's T-Net).

    Shared MLP k-64-128-1024, max-pool over points, FC 512-256, then a Linear to ``k*k`` whose
    weight is zero and bias the flattened identity, so training starts from the identity transform.
    """

    def __init__(self, k: int, mlp: type[SharedMLP], fast: bool = True) -> None:
        super().__init__()
        self.k = k
        self.mlp = mlp((k, 64, 128, 1024), fast=fast)
        self.fc1 = FullyConnected(1024, 512)
        self.fc2 = FullyConnected(512, 256)
        self.out = nn.Linear(256, k * k)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(torch.eye(k).flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp.pool(x)  # (B, N, k) -> (B, 1024), max over points
        x = self.fc2(self.fc1(x))  # (B, 256)
        return self.out(x).view(-1, self.k, self.k)  # (B, k, k)


class PointNet(nn.Module):
    """PointNet classification network.

    Args:
        num_classes: size of the logits.
        shared_mlp: per-point layer variant, one of ``linear``, ``conv1d``, ``loop``.
        input_transform: predict and apply the 3x3 input alignment (T-Net).
        feature_transform: predict and apply the 64x64 feature alignment; its matrix is returned
            for the orthogonality regulariser (``pointnet.nn.losses.orthogonality_loss``).
        dropout: drop probability on the 256-wide head layer (the paper keeps 0.7).
        fast: run the shared MLPs through their fast path (``pointnet.nn.fast_path``; same function,
            tested to float64 rounding); ``False`` keeps the plain per-layer form. The ``loop``
            variant has only its plain form.
        in_channels: 3 for ``(x, y, z)`` points, 6 for ``(x, y, z, nx, ny, nz)`` with normals. The
            input T-Net always sees xyz only; its 3x3 transform is applied to the xyz and to the
            normals alike (a rotation turns both), and the first shared layer takes all channels.

    The layer widths follow the authors' released code, which the paper's Table 6 counts: the trunk
    after the feature transform is 64-64-128-1024 (Figure 2 draws 64-128-1024). With 40 classes that
    is 3,480,049 parameters and 448.0M multiply-adds per sample at 1024 points (vanilla: 819,624).

    ``forward(points)`` takes ``(B, N, in_channels)`` points and returns ``(logits, feature_transform)``:
    ``(B, num_classes)`` and ``(B, 64, 64)`` (or ``None`` without the feature transform).
    """

    def __init__(
        self,
        num_classes: int,
        shared_mlp: str = "conv1d",
        input_transform: bool = True,
        feature_transform: bool = True,
        dropout: float = 0.3,
        fast: bool = True,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if in_channels not in (3, 6):
            raise ValueError(f"in_channels must be 3 (xyz) or 6 (xyz + normals), got {in_channels}")
        mlp = shared_mlp_class(shared_mlp)
        self.shared_mlp = shared_mlp
        self.in_channels = in_channels
        self.input_tnet = TNet(3, mlp, fast) if input_transform else None
        self.mlp1 = mlp((in_channels, 64, 64), fast=fast)
        self.feature_tnet = TNet(64, mlp, fast) if feature_transform else None
        self.mlp2 = mlp((64, 64, 128, 1024), fast=fast)
        self.fc1 = FullyConnected(1024, 512)
        self.fc2 = FullyConnected(512, 256)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        features, transform = self.global_features(points)
        x = self.dropout(self.fc2(self.fc1(features)))  # (B, 1024) -> (B, 256)
        return self.classifier(x), transform  # (B, num_classes)

    @property
    def fast(self) -> bool:
        """Whether the shared MLPs run their fast path; settable on a built model."""
        return self.mlp2.fast

    @fast.setter
    def fast(self, value: bool) -> None:
        for module in self.modules():
            if isinstance(module, SharedMLP):
                module.fast = bool(value) and module.has_fast_path

    def global_features(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, N, C) -> (B, 1024)`` max-pooled features, and the feature transform (or None)."""
        x, transform = self.aligned_features(points)
        return self.mlp2.pool(x), transform  # (B, N, 64) -> (B, 1024)

    def point_features(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-point features before the max-pool: ``(B, N, C) -> (B, N, 1024)``, and the transform."""
        x, transform = self.aligned_features(points)
        return self.mlp2(x), transform  # (B, N, 64) -> (B, N, 1024)

    def align_input(self, points: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` points with the input T-Net's ``(B, 3, 3)`` transform (predicted from xyz)
        applied to the xyz and, for ``C = 6``, to the normals."""
        assert self.input_tnet is not None, "align_input is called only on a model with the input T-Net"
        xyz = points[..., :3]
        transform = self.input_tnet(xyz)  # (B, 3, 3)
        if self.in_channels == 3:
            return torch.bmm(xyz, transform)  # (B, N, 3) @ (B, 3, 3)
        return torch.cat([torch.bmm(xyz, transform), torch.bmm(points[..., 3:], transform)], dim=-1)

    def aligned_features(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Aligned 64-wide point features: ``(B, N, C) -> (B, N, 64)``, and the transform (or None)."""
        if points.dim() != 3 or points.shape[-1] != self.in_channels:
            raise ValueError(f"expected points of shape (B, N, {self.in_channels}), got {tuple(points.shape)}")
        x = points
        if self.input_tnet is not None:
            x = self.align_input(points)
        x = self.mlp1(x)  # (B, N, C) -> (B, N, 64)
        transform = None
        if self.feature_tnet is not None:
            transform = self.feature_tnet(x)  # (B, 64, 64)
            x = torch.bmm(x, transform)
        return x, transform
