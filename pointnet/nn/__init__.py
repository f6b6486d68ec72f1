"""The network alone, in torch only: no data, no loop, no logging, no config.

- :mod:`~pointnet.nn.shared_mlp`: the shared-MLP family (``linear``, ``conv1d``, ``loop``), one function;
- :mod:`~pointnet.nn.fast_path`, :mod:`~pointnet.nn.fused`: the fused training and inference paths;
- :mod:`~pointnet.nn.model`: the paper's ``PointNet`` (T-Nets, trunk, max-pool, head);
- :mod:`~pointnet.nn.losses`: cross-entropy plus the orthogonality regulariser;
- :mod:`~pointnet.nn.complexity`: parameter and multiply-add counts.
"""
from pointnet.nn.losses import classification_loss, orthogonality_loss
from pointnet.nn.model import PointNet
from pointnet.nn.shared_mlp import SHARED_MLPS, shared_mlp_class

__all__ = ["PointNet", "SHARED_MLPS", "classification_loss", "orthogonality_loss", "shared_mlp_class"]
