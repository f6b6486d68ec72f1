"""Data: ModelNet-style meshes (and the pre-sampled ModelNet40 files) to point clouds for PointNet.

Subpackages, grouped by what they hold (every module: docs/layout.md):

- :mod:`~pointnet.data.readers`: one shape at a time: ``read_mesh`` (a strict OFF reader for ModelNet's traps,
  trimesh for other formats), point files, face winding, surface sampling (z up, unit sphere), the up axis;
- :mod:`~pointnet.data.datasets`: data sets on disk: layouts and formats, ``load_split`` with its per-split
  cache, the official downloads, and inputs from outside a data set (for a trained model);
- :mod:`~pointnet.data.pipeline`: prepared point sets to training batches: the per-epoch torch ``Dataset``,
  held-out splits, augmentation (one torch implementation), PointCutMix, ModelNet-C's corruptions;
- :mod:`~pointnet.data.synthetic`: the offline procedural ModelNet-style corpus.

Beside them: :mod:`~pointnet.data.settings` (the ``data`` group's settings), :mod:`~pointnet.data.pointset`
(a prepared split), :mod:`~pointnet.data.errors`, :mod:`~pointnet.data.atomic` and :mod:`~pointnet.data.parallel`.

All point clouds are z up, centred, inside the unit sphere, float32.
"""
from pointnet.data.datasets.load import FORMATS, load_split
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.pipeline.augment import Augmentation
from pointnet.data.pipeline.cloud_dataset import PointCloudDataset
from pointnet.data.pointset import PointSet
from pointnet.data.readers.meshes import read_mesh
from pointnet.data.synthetic.corpus import SYNTHETIC_CLASSES, generate_synthetic

__all__ = [
    "FORMATS",
    "SYNTHETIC_CLASSES",
    "Augmentation",
    "DatasetError",
    "MeshError",
    "PointCloudDataset",
    "PointSet",
    "generate_synthetic",
    "load_split",
    "read_mesh",
]
