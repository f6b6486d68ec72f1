"""Accuracy under ModelNet-C's corruptions: every test cloud, every chosen kind, severities 1..5.

The clean clouds are the evaluation's own fixed draw (``PointCloudDataset(train=False)``); they are
corrupted in chunks of ``CHUNK`` clouds, each chunk, kind and severity with its own seeded generator
(``pointnet.data.corruptions.corruption_generator``), so the corrupted clouds depend on the seed and
the data only: not on ``eval.batch_size``, the device or which other kinds are evaluated. Corruption
runs on the CPU (the same numbers on every machine); the model sees single passes, no voting.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from pointnet.data.pipeline.cloud_dataset import PointCloudDataset
from pointnet.data.pipeline.corruptions import SEVERITIES, corrupt, corruption_generator
from pointnet.training.epoch import model_dtype
from pointnet.training.metrics import ConfusionMatrix

CHUNK = 256  # clouds corrupted at once: ~3 MB of 1024-point clouds per copy


@torch.no_grad()
def predict_into(confusion: ConfusionMatrix, model: nn.Module, points: torch.Tensor, labels: torch.Tensor,
                 batch_size: int, device: torch.device) -> None:
    """Add the predictions for ``(M, N, 3)`` ``points`` (``labels (M,)``) to ``confusion``, ``batch_size`` at a time."""
    for start in range(0, len(points), batch_size):
        batch = points[start : start + batch_size].to(device=device, dtype=model_dtype(model))
        confusion.update(model(batch)[0], labels[start : start + batch_size])


@torch.no_grad()
def corruption_confusions(model: nn.Module, dataset: PointCloudDataset, kinds: Sequence[str], *, seed: int,
                          device: torch.device, batch_size: int = 32, progress: bool = True,
                          ) -> tuple[ConfusionMatrix, dict[str, list[ConfusionMatrix]]]:
    """Confusion matrices of ``model`` on ``dataset``'s clouds: clean, and per kind one per severity (1..5).

    ``dataset``: an evaluation ``PointCloudDataset`` of xyz clouds (``corrupt`` refuses normals).
    """
    model.eval()
    num_classes = len(dataset.point_set.classes)
    clean = ConfusionMatrix.empty(num_classes)
    corrupted = {kind: [ConfusionMatrix.empty(num_classes) for _ in SEVERITIES] for kind in kinds}
    chunks = DataLoader(dataset, batch_size=CHUNK, shuffle=False)
    for chunk, (points, labels) in enumerate(tqdm(chunks, desc="corruptions", leave=False,
                                                  disable=None if progress else True)):
        predict_into(clean, model, points, labels, batch_size, device)
        for kind in kinds:
            for severity, confusion in zip(SEVERITIES, corrupted[kind], strict=True):
                changed = corrupt(points, kind, severity, corruption_generator(seed, kind, severity, chunk))
                predict_into(confusion, model, changed, labels, batch_size, device)
    return clean, corrupted
