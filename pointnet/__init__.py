"""PointNet point-cloud classification: one network, three provably identical shared-MLP variants.

The package is laid out in layers; each imports only those listed before it:

- :mod:`pointnet.nn`: the network alone (shared-MLP family, fused fast path, ``PointNet``, losses, counts);
- :mod:`pointnet.data`: meshes and point files to cached, augmented point clouds and torch datasets;
- :mod:`pointnet.runtime`: how the process runs on its machine (allocator, OpenMP, threads, SLURM);
- :mod:`pointnet.training`: epochs, evaluation, batching, optimisers, checkpoints, DDP, the run's state;
- :mod:`pointnet.inference`: a trained model in use (``Classifier``) and its export;
- :mod:`pointnet.reporting`: TensorBoard, figures, critical points, sweep comparison;
- :mod:`pointnet.apps`: the console entry points, the config schema and its validation (the only Hydra user);
- :mod:`pointnet.explain`: the seed's image equivalences (fully connected layers as convolutions).

:mod:`pointnet.errors` holds the one error type all layers share, :mod:`pointnet.roles` what a setting does to
a run (declared on each schema field). ``pointnet.Classifier`` is a trained
model as an inference API (``Classifier.from_checkpoint(path).predict(inputs)``).
"""
import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names __getattr__ serves, for type checkers and readers
    from pointnet.data.datasets.load import load_split
    from pointnet.inference.classifier import Classifier
    from pointnet.nn.losses import orthogonality_loss
    from pointnet.nn.model import PointNet
    from pointnet.nn.shared_mlp import SHARED_MLPS

# Imported on first use, so that ``import pointnet.apps.entry`` loads no torch (the console scripts set
# the OpenMP environment before torch's runtime reads it; see pointnet.runtime.openmp).
_LAZY = {"PointNet": "pointnet.nn.model", "SHARED_MLPS": "pointnet.nn.shared_mlp",
         "load_split": "pointnet.data.datasets.load", "orthogonality_loss": "pointnet.nn.losses",
         "Classifier": "pointnet.inference.classifier"}

try:
    __version__ = version("pointnet")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["Classifier", "PointNet", "SHARED_MLPS", "__version__", "load_split", "orthogonality_loss"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pointnet' has no attribute {name!r}")
