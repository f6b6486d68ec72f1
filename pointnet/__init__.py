"""PointNet point-cloud classification: one network, three provably identical shared-MLP variants."""
from pointnet.model import PointNet
from pointnet.shared_mlp import SHARED_MLPS

__all__ = ["PointNet", "SHARED_MLPS"]
