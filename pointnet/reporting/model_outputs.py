"""A model's outputs over a data set for the board: class probabilities, 1024-wide global features, labels.

The confusion matrix only counts; PR curves need the probabilities and the projector the global
features, so the report runs the model again over the (small) test set. Evaluation mode, and
the data set's per-shape generators: no global random state moves, so training stays reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pointnet.data.pipeline.cloud_dataset import PointCloudDataset
from pointnet.nn.model import PointNet
from pointnet.training.batching import make_loader
from pointnet.training.epoch import model_dtype


@dataclass
class Predictions:
    """``probabilities (M, K)``, ``features (M, 1024)`` (the max-pooled global feature), ``labels (M,)``."""

    probabilities: torch.Tensor
    features: torch.Tensor
    labels: torch.Tensor

    @property
    def predicted(self) -> torch.Tensor:
        return self.probabilities.argmax(dim=1)


@torch.no_grad()
def predict_batch(model: PointNet, points: torch.Tensor, labels: torch.Tensor) -> Predictions:
    """``points (B, N, C)`` with ``labels (B,)`` through ``model`` in evaluation mode."""
    model.eval()
    points = points.to(next(model.parameters()).device, model_dtype(model))
    global_features, _ = model.global_features(points)
    probabilities = torch.softmax(model(points)[0], dim=1)
    return Predictions(probabilities.float().cpu(), global_features.float().cpu(), labels.cpu())


def predict_dataset(model: PointNet, dataset: PointCloudDataset, batch_size: int = 32) -> Predictions:
    """Every shape of ``dataset`` once, in order."""
    parts = [predict_batch(model, points, labels) for points, labels in make_loader(dataset, batch_size, train=False,
                                                                                     seed=0)]
    return Predictions(*(torch.cat([getattr(p, f) for p in parts]) for f in ("probabilities", "features", "labels")))


def predict_items(model: PointNet, dataset: PointCloudDataset, indices: list[int]) -> tuple[torch.Tensor, Predictions]:
    """The clouds ``(M, N, C)`` of ``dataset[indices]`` and their predictions."""
    items = [dataset[i] for i in indices]
    points = torch.stack([pts for pts, _ in items])
    return points, predict_batch(model, points, torch.stack([label for _, label in items]))


def stratified_indices(labels: np.ndarray, count: int, seed: int) -> list[int]:
    """``count`` shape indices, one per class for classes spread evenly over all of them from an offset drawn
    with ``seed`` (round-robin when ``count`` exceeds the classes), each shape drawn with ``seed`` too, so
    runs with other seeds show other classes and shapes."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if count <= 0 or len(labels) == 0:
        return []
    rng = np.random.default_rng(seed)
    pools = {int(c): list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
    k, start = len(classes), int(rng.integers(len(classes)))
    order = [int(classes[(start + i * k // min(count, k)) % k]) for i in range(min(count, k))]
    order += [int(c) for c in classes if int(c) not in order]
    picked: list[int] = []
    while len(picked) < min(count, len(labels)):
        for c in order:
            if pools[c] and len(picked) < count:
                picked.append(int(pools[c].pop()))
    return picked
