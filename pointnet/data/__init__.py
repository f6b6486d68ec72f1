"""Data: ModelNet-style meshes (and the pre-sampled ModelNet40 files) to point clouds for PointNet."""
from pointnet.data.augment import Augmentation
from pointnet.data.dataset import PointCloudDataset
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.meshes import read_mesh
from pointnet.data.pointset import PointSet
from pointnet.data.splits import FORMATS, load_split

__all__ = ["FORMATS", "Augmentation", "DatasetError", "MeshError", "PointCloudDataset", "PointSet",
           "load_split", "read_mesh"]
