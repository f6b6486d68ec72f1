"""``Classifier``: a trained PointNet as a small inference API, with the run's own preprocessing.

``Classifier.from_checkpoint("outputs/.../best.pt").predict(["chair.off", "scan.npy"])`` rebuilds the
model from what the checkpoint records (model arguments, classes, the run's data settings) and
prepares each input the way the training data was prepared (``pointnet.data.datasets.inputs``): sampling,
up axis, normalisation and normals. Inputs are classified in batches.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
import torch

from pointnet.data.datasets.inputs import Preprocessing, is_trimesh_object, load_points, mesh_points, prepare_cloud
from pointnet.nn.model import PointNet
from pointnet.training.checkpoint import CheckpointError, load_checkpoint, load_weights
from pointnet.training.epoch import model_dtype
from pointnet.training.evaluation import predict_logits

if TYPE_CHECKING:  # trimesh takes about a second to import: loaded where a mesh is handled
    import trimesh

# Strings, so that the lazily imported trimesh stays out of the module's run time.
Item: TypeAlias = "str | os.PathLike | np.ndarray | trimesh.Trimesh | trimesh.Scene | trimesh.PointCloud"
Inputs: TypeAlias = "Item | torch.Tensor | Sequence[Item]"


@dataclass
class Prediction:
    """One input's result: ``labels``/``probabilities`` are the top k (best first); ``logits`` ``(K,)``."""

    source: str
    labels: list[str]
    probabilities: list[float]
    logits: np.ndarray

    @property
    def label(self) -> str:
        return self.labels[0]

    def top_k(self) -> list[tuple[str, float]]:
        return list(zip(self.labels, self.probabilities, strict=True))


def model_from_state(state: dict[str, Any], path: str | os.PathLike, shared_mlp: str | None = None,
                     **changes: Any) -> PointNet:
    """The checkpoint's ``PointNet`` in eval mode, optionally under another variant (any loads into any).

    Class names and weights that do not fit the recorded model raise ``CheckpointError`` naming ``path``.
    """
    args = dict(state["model_args"])
    if len(state.get("classes", [])) != args.get("num_classes"):
        raise CheckpointError(path, f"{len(state.get('classes', []))} class names for a model of "
                              f"{args.get('num_classes')} classes")
    if shared_mlp is not None:
        args["shared_mlp"] = shared_mlp
    args.update(changes)
    model = PointNet(**args)
    load_weights(model, state["model"], path)
    return model.eval()


def preprocessing_from_state(state: dict[str, Any]) -> Preprocessing:
    """The run's data settings recorded in a checkpoint (defaults for what an older one lacks)."""
    data = state.get("config", {}).get("data", {})
    defaults = Preprocessing()
    normals = bool(data.get("normals", state["model_args"].get("in_channels", 3) == 6))
    return Preprocessing(int(data.get("num_points", defaults.num_points)), str(data.get("up_axis", "z")), normals)


class Classifier:
    """Classify meshes, point files and clouds with a trained ``model``.

    ``predict`` accepts a path, a list of paths and/or ``(N, C)`` numpy arrays (raw clouds: subsampled,
    turned to z up and normalised like training data), or a ``(B, N, C)`` tensor taken as model-ready
    clouds (already z up and in the unit sphere, as the data pipeline yields them).
    """

    def __init__(self, model: PointNet, classes: Sequence[str], preprocessing: Preprocessing, *,
                 batch_size: int = 32, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.class_names = model.eval(), list(classes)
        self.preprocessing, self.batch_size, self.seed = preprocessing, int(batch_size), int(seed)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
                        shared_mlp: str | None = None, **options: Any) -> Classifier:
        """Build from a ``last.pt``/``best.pt``; ``shared_mlp`` picks another variant than the trained one."""
        state = load_checkpoint(Path(path))
        model = model_from_state(state, path, shared_mlp).to(device)
        return cls(model, state["classes"], preprocessing_from_state(state), **options)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict(self, inputs: Inputs, top_k: int = 3, votes: int = 1) -> list[Prediction]:
        """One ``Prediction`` per input, in order; logits averaged over ``votes`` rotations about z."""
        if top_k < 1 or votes < 1:
            raise ValueError(f"top_k and votes must be >= 1, got top_k={top_k}, votes={votes}")
        clouds = self.clouds(inputs)
        logits: dict[int, torch.Tensor] = {}
        for group in self.batches(clouds):
            batch = torch.stack([clouds[i][1] for i in group]).to(self.device, model_dtype(self.model))
            for i, row in zip(group, predict_logits(self.model, batch, votes)[0].cpu(), strict=True):
                logits[i] = row
        return [self.record(name, logits[i], top_k) for i, (name, _) in enumerate(clouds)]

    def clouds(self, inputs: Inputs) -> list[tuple[str, torch.Tensor]]:
        """``(name, (n, C) tensor)`` per input, preprocessed; a bad input raises naming it."""
        if isinstance(inputs, torch.Tensor):
            return self.tensor_clouds(inputs)
        single = isinstance(inputs, (str, os.PathLike, np.ndarray)) or is_trimesh_object(inputs)
        items = [inputs] if single else list(cast(Sequence[Item], inputs))  # each single kind is tested above
        if not items:
            raise ValueError("no inputs given")
        return [self.cloud(item, f"input {i}") for i, item in enumerate(items)]

    def cloud(self, item: Any, name: str) -> tuple[str, torch.Tensor]:
        if isinstance(item, (str, os.PathLike)):
            return str(item), torch.from_numpy(load_points(item, self.preprocessing, self.seed))
        if isinstance(item, np.ndarray):
            return name, torch.from_numpy(prepare_cloud(item, self.preprocessing, f"{name} (array)", self.seed))
        if is_trimesh_object(item):
            label = f"{name} ({type(item).__name__})"
            return name, torch.from_numpy(mesh_points(item, self.preprocessing, label, self.seed))
        raise TypeError(f"{name}: expected a path, an (N, C) numpy array, a trimesh mesh, scene or point cloud, "
                        f"or a (B, N, C) tensor, got {type(item).__name__}")

    def tensor_clouds(self, points: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        channels = self.preprocessing.channels
        if points.dim() != 3 or points.shape[-1] != channels or points.shape[0] * points.shape[1] == 0:
            raise ValueError(f"tensor input: expected shape (B, N, {channels}) with B, N >= 1, "
                             f"got {tuple(points.shape)}")
        if not torch.isfinite(points).all():
            raise ValueError("tensor input: holds NaN or infinite values")
        return [(f"tensor[{i}]", cloud) for i, cloud in enumerate(points.unbind(0))]

    def batches(self, clouds: list[tuple[str, torch.Tensor]]) -> Iterable[list[int]]:
        """Indices of clouds with the same point count, at most ``batch_size`` at a time."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, (_, cloud) in enumerate(clouds):
            by_shape.setdefault(tuple(cloud.shape), []).append(i)
        for group in by_shape.values():
            for start in range(0, len(group), self.batch_size):
                yield group[start : start + self.batch_size]

    def record(self, name: str, logits: torch.Tensor, top_k: int) -> Prediction:
        values, indices = logits.softmax(dim=0).topk(min(top_k, len(self.class_names)))
        return Prediction(name, [self.class_names[int(i)] for i in indices], [float(v) for v in values],
                          logits.numpy())
