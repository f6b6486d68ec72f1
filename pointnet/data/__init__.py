"""Data: ModelNet-style meshes (and the pre-sampled ModelNet40 files) to point clouds for PointNet."""
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.meshes import read_mesh

__all__ = ["DatasetError", "MeshError", "read_mesh"]
