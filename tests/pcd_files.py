"""PCD files for the tests, written by a real writer: pypcd4 (a dev dependency), whose binary_compressed
streams come from liblzf (python-neo-lzf), the compressor PCL itself bundles."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pypcd4 import Encoding, MetaData, PointCloud
from pypcd4.pypcd4 import NUMPY_TYPE_TO_PCD_TYPE

ENCODINGS = ("ascii", "binary", "binary_compressed")


def write_pcd(path: Path, columns: dict[str, np.ndarray], encoding: str = "binary", width: int | None = None) -> Path:
    """``columns`` (field name -> ``(N,)`` values, or ``(N, COUNT)`` for a multi-value field; the array's
    dtype is the field's TYPE and SIZE) as a PCD file; ``width`` makes it an organised ``WIDTH x HEIGHT`` grid."""
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    points = len(next(iter(arrays.values())))
    kinds = [NUMPY_TYPE_TO_PCD_TYPE[values.dtype] for values in arrays.values()]
    width = width or points
    meta = MetaData(fields=tuple(arrays), type=tuple(k for k, _ in kinds), size=tuple(s for _, s in kinds),
                    count=tuple(1 if v.ndim == 1 else v.shape[1] for v in arrays.values()), points=points,
                    width=width, height=points // width)
    records = np.zeros(points, meta.build_dtype())
    for name, values in arrays.items():
        if values.ndim == 1:
            records[name] = values
        else:
            for k in range(values.shape[1]):
                records[f"{name}__{k:04d}"] = values[:, k]
    PointCloud(meta, records).save(path, encoding=Encoding(encoding))
    return path


def xyz_columns(points: np.ndarray) -> dict[str, np.ndarray]:
    """``x y z`` float32 fields, then ``normal_x normal_y normal_z`` when ``points`` has six columns."""
    names = ["x", "y", "z", "normal_x", "normal_y", "normal_z"][: points.shape[1]]
    return {name: points[:, i].astype(np.float32) for i, name in enumerate(names)}
