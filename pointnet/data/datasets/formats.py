"""The two pre-sampled ModelNet40 distributions most PointNet users already have on disk.

``modelnet40_ply_hdf5_2048`` (PointNet's release): HDF5 shards listed in ``train_files.txt`` /
``test_files.txt``, each with ``data`` ``(M, 2048, 3)`` float32, ``label`` ``(M, 1)``, and in most
copies ``normal`` ``(M, 2048, 3)``; class names in ``shape_names.txt``. Binary already, so it is
read directly (no cache). Needs ``h5py`` (``pip install 'pointnet[h5]'``).

``modelnet40_normal_resampled`` (PointNet++'s release): ``<class>/<class>_<NNNN>.txt`` with lines
``x,y,z,nx,ny,nz``; split lists ``modelnet40_{train,test}.txt`` and ``modelnet10_{train,test}.txt``
name the shapes, ``modelnet{40,10}_shape_names.txt`` the classes. Parsing 10,000 text lines per shape
is slow, so the first ``dense_points`` lines of each file are cached like sampled meshes.

Both distributions are y up: pass ``up_axis="y"`` to get this package's z-up convention.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pointnet.data.datasets.cache import Source
from pointnet.data.datasets.layout import check_root, read_names
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.pointset import PointSet
from pointnet.data.readers.sampling import normalize, to_z_up

SUBSETS: tuple[str, ...] = ("modelnet40", "modelnet10")


def read_h5_split(
    root: Path,
    split: str,
    *,
    dense_points: int,
    normals: bool,
    up_axis: str,
    classes: Sequence[str] | None = None,
    max_per_class: int | None = None,
) -> PointSet:
    """All shapes of ``split`` from the shards in ``<root>/<split>_files.txt``, z up, normalised.

    Keeps the first ``dense_points`` points of each shape (all of them if there are fewer).
    """
    h5py = _import_h5py()
    check_root(root)
    names = read_names(_require(root / "shape_names.txt"))
    shards = _shard_paths(root, _require(root / f"{split}_files.txt"))
    clouds, labels, files = [], [], []
    for shard in shards:
        data, label = _read_shard(h5py, shard, dense_points, normals)
        clouds.append(data)
        labels.append(label)
        files += [f"{shard.name}:{i}" for i in range(len(label))]
    points, label = np.concatenate(clouds), np.concatenate(labels)
    bad = (label < 0) | (label >= len(names))
    if bad.any():
        raise DatasetError(f"labels {sorted(set(label[bad].tolist()))[:5]} out of range for "
                           f"{len(names)} classes in {root / 'shape_names.txt'}")
    keep, label, order = _select(np.asarray(names)[label], classes or names, max_per_class, str(root))
    points = np.stack([normalize(to_z_up(cloud, up_axis)) for cloud in points[keep]]) if len(keep) else points[:0]
    return PointSet(points, label, order, [files[i] for i in keep], [], f"h5:{root}/{split}")


def _import_h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "reading modelnet40_ply_hdf5_2048 needs h5py: pip install 'pointnet[h5]'"
        ) from None
    return h5py


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(f"missing {path}")
    return path


def _shard_paths(root: Path, listing: Path) -> list[Path]:
    """Shards named in ``listing``; the official list holds paths like ``data/modelnet40_.../x.h5``."""
    shards = []
    for line in read_names(listing):
        candidates = [root / line, root / Path(line).name]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            raise DatasetError(f"shard {line!r} listed in {listing} not found in {root}")
        shards.append(found)
    return shards


def _read_shard(h5py, shard: Path, dense_points: int, normals: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(M, P, 3|6)`` float32 points (+normals) and ``(M,)`` int64 labels of one shard."""
    try:
        with h5py.File(shard, "r") as file:
            data = np.asarray(file["data"][:, :dense_points], dtype=np.float32)
            label = np.asarray(file["label"][...], dtype=np.int64).reshape(-1)
            if normals:
                if "normal" not in file:
                    raise DatasetError(f"{shard} has no 'normal' dataset; use normals=False")
                normal = np.asarray(file["normal"][:, :dense_points], dtype=np.float32)
                data = np.concatenate([data, normal], axis=2)
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise DatasetError(f"cannot read HDF5 shard {shard}: {error}") from None
    if data.ndim != 3 or data.shape[0] != label.shape[0]:
        raise DatasetError(f"{shard}: data {data.shape} does not match label {label.shape}")
    if not np.isfinite(data).all():
        raise DatasetError(f"{shard}: non-finite point coordinates")
    return data, label


def _select(
    names: np.ndarray, classes: Sequence[str], max_per_class: int | None, where: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Indices of shapes whose class is in ``classes`` (first K per class), their new labels, order."""
    order = [str(name) for name in classes]
    missing = sorted(set(order) - set(names.tolist()))
    if missing:
        raise DatasetError(f"classes {missing} have no shapes in {where}")
    position = {name: i for i, name in enumerate(order)}
    taken: dict[str, int] = {}
    keep = []
    for index, name in enumerate(names.tolist()):
        if name in position and (max_per_class is None or taken.get(name, 0) < max_per_class):
            taken[name] = taken.get(name, 0) + 1
            keep.append(index)
    keep_array = np.asarray(keep, dtype=np.int64)
    labels = np.asarray([position[names[i]] for i in keep], dtype=np.int64)
    return keep_array, labels, order


def resampled_sources(
    root: Path,
    split: str,
    *,
    subset: str = "modelnet40",
    classes: Sequence[str] | None = None,
    max_per_class: int | None = None,
) -> tuple[list[Source], list[str]]:
    """The files of ``<root>/<subset>_<split>.txt`` as sources, and the class names in label order."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
    check_root(root)
    names = list(classes) if classes is not None else read_names(_names_file(root, subset))
    listing = _require(root / f"{subset}_{split}.txt")
    shapes = read_names(listing)
    owners = np.asarray([shape.rpartition("_")[0] for shape in shapes])
    unknown = sorted(set(owners.tolist()) - set(names))
    if unknown and classes is None:
        raise DatasetError(f"{listing} names shapes of classes {unknown[:5]} missing from the class list")
    keep, labels, order = _select(owners, names, max_per_class, str(listing))
    sources = [
        Source(str(root / owners[i] / f"{shapes[i]}.txt"), f"{owners[i]}/{shapes[i]}.txt", int(label))
        for i, label in zip(keep.tolist(), labels.tolist(), strict=True)
    ]
    return sources, order


def _names_file(root: Path, subset: str) -> Path:
    for candidate in (root / f"{subset}_shape_names.txt", root / "shape_names.txt"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"missing {root / f'{subset}_shape_names.txt'}")


def read_resampled_file(
    path: str | os.PathLike, key: str = "", *, count: int, normals: bool = False, up_axis: str = "z"
) -> np.ndarray:
    """First ``count`` lines ``x,y,z,nx,ny,nz`` of one file: ``(count, 3|6)`` float32, z up, normalised.

    Raises MeshError (so preparation skips the file) if it is missing, malformed or too short.
    """
    try:
        values = np.loadtxt(path, delimiter=",", max_rows=count, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as error:
        raise MeshError(f"cannot parse point file: {error}", path) from None
    width = 6 if normals else 3
    if values.shape[0] < count or values.shape[1] < width:
        raise MeshError(f"has {values.shape[0]}x{values.shape[1]} values, need {count}x{width}", path)
    if not np.isfinite(values).all():
        raise MeshError("non-finite values (NaN or inf)", path)
    try:
        return normalize(to_z_up(values[:count, :width], up_axis))
    except MeshError as error:
        raise MeshError(error.reason, path) from None
