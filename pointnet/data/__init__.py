"""Data: ModelNet-style meshes (and the pre-sampled ModelNet40 files) to point clouds for PointNet.

Modules, one concern each:

- :mod:`~pointnet.data.meshes`: ``read_mesh``, a strict OFF reader (ModelNet's traps) + trimesh for
  other formats;
- :mod:`~pointnet.data.layout`: the ``<root>/<class>/<split>/*.off`` folder layout;
- :mod:`~pointnet.data.sampling`: area-weighted surface sampling, z up, unit sphere;
- :mod:`~pointnet.data.orientation`: consistent, outward face winding, so sampled face normals agree in sign;
- :mod:`~pointnet.data.cache`: per-split caches with a manifest, rebuilt when stale or corrupt;
- :mod:`~pointnet.data.formats`: ``modelnet40_ply_hdf5_2048`` and ``modelnet40_normal_resampled``;
- :mod:`~pointnet.data.load`: ``load_split``, the one entry point training calls;
- :mod:`~pointnet.data.pointset`, :mod:`~pointnet.data.cloud_dataset`, :mod:`~pointnet.data.augment`:
  the prepared split, the per-epoch torch ``Dataset`` and its augmentation;
- :mod:`~pointnet.data.synthetic`: the offline procedural ModelNet-style corpus, built from
  :mod:`~pointnet.data.furniture` (one builder per class) and :mod:`~pointnet.data.primitives`;
- :mod:`~pointnet.data.download`: the official ModelNet archives;
- :mod:`~pointnet.data.inputs`: files, folders, globs and raw arrays from outside a data set, preprocessed
  like a run's training data (for a trained model);
- :mod:`~pointnet.data.atomic`, :mod:`~pointnet.data.parallel`: atomic writes, process pools.

All point clouds are z up, centred, inside the unit sphere, float32.
"""
from pointnet.data.augment import Augmentation
from pointnet.data.cloud_dataset import PointCloudDataset
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.load import FORMATS, load_split
from pointnet.data.meshes import read_mesh
from pointnet.data.pointset import PointSet
from pointnet.data.synthetic import SYNTHETIC_CLASSES, generate_synthetic

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
