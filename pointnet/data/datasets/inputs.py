"""Inputs from outside a data set: mesh and point files, folders and globs, raw arrays and trimesh objects,
made model-ready.

What a trained model is fed must be preprocessed the way its training data was: meshes are sampled
like data-set meshes (area-weighted, the run's up axis turned to z, unit sphere), point files and raw
arrays are subsampled to the run's point count, turned to z up and normalised the same way. The
point files are parsed by :func:`pointnet.data.point_files.read_point_file`, as in folder data sets.
"""
from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pointnet.data.datasets.folder import FOLDER_SUFFIXES, is_point_file, usable_files
from pointnet.data.errors import MeshError
from pointnet.data.readers.meshes import checked_mesh
from pointnet.data.readers.point_files import read_point_file, unit_normals
from pointnet.data.readers.sampling import (
    check_up_axis,
    mesh_seed,
    normalize,
    sample_mesh_file,
    sample_surface,
    to_z_up,
)

if TYPE_CHECKING:  # trimesh takes about a second to import: loaded where a mesh is handled
    import trimesh


@dataclass(frozen=True)
class Preprocessing:
    """How a run turned shapes into clouds: points per cloud, the source's up axis, normals as channels 4-6."""

    num_points: int = 1024
    up_axis: str = "z"
    normals: bool = False

    @property
    def channels(self) -> int:
        return 6 if self.normals else 3


def prepare_cloud(raw: np.ndarray, prep: Preprocessing, name: str, seed: int = 0) -> np.ndarray:
    """A raw ``(N, 3+)`` cloud as the model saw clouds in training: ``(n, channels)`` float32, z up,
    unit sphere, unit normals, ``n = min(N, num_points)`` points drawn without replacement (seeded)."""
    if raw.ndim != 2 or raw.shape[1] < prep.channels or len(raw) == 0:
        raise ValueError(f"{name}: expected an (N, {prep.channels}) cloud"
                         f"{' (xyz + normals)' if prep.normals else ''}, got shape {raw.shape}")
    points = np.asarray(raw[:, : prep.channels], dtype=np.float64)
    if not np.isfinite(points).all():
        raise ValueError(f"{name}: the cloud holds NaN or infinite values")
    if prep.normals:
        try:
            points = unit_normals(points, name)
        except MeshError as exc:
            raise ValueError(str(exc)) from None
    if len(points) > prep.num_points:
        points = points[np.random.default_rng(seed).choice(len(points), prep.num_points, replace=False)]
    try:
        return normalize(to_z_up(points, check_up_axis(prep.up_axis)))
    except MeshError as exc:
        raise ValueError(f"{name}: {exc.reason}") from None


def load_points(path: str | os.PathLike, prep: Preprocessing, seed: int = 0) -> np.ndarray:
    """``(n, channels)`` float32 points of a mesh or point file, preprocessed like the training data.

    Raises ``MeshError`` for a broken mesh and ``ValueError`` for anything else wrong, naming the file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FOLDER_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {FOLDER_SUFFIXES}")
    if not is_point_file(path):
        return sample_mesh_file(path, path.name, count=prep.num_points, normals=prep.normals,
                                up_axis=prep.up_axis, seed=seed)
    return prepare_cloud(read_point_file(path), prep, str(path), seed)


def is_trimesh_object(item: object) -> bool:
    """Whether ``item`` is a trimesh ``Trimesh``, ``Scene`` or ``PointCloud``.

    Answered without importing trimesh: before its module is loaded, no such object can exist.
    """
    trimesh = sys.modules.get("trimesh")
    return trimesh is not None and isinstance(item, (trimesh.Trimesh, trimesh.Scene, trimesh.PointCloud))


def mesh_points(mesh: trimesh.Trimesh | trimesh.PointCloud | trimesh.Scene, prep: Preprocessing, name: str,
                seed: int = 0) -> np.ndarray:
    """``(n, channels)`` float32 points of an in-memory trimesh object, preprocessed like a file of it.

    A mesh is sampled as data-set meshes are (area-weighted, face normals), a scene is first concatenated
    into one mesh with its transforms applied, a point cloud's vertices go through :func:`prepare_cloud`.
    Raises ``ValueError`` naming the input when the geometry cannot be used.
    """
    import trimesh

    if isinstance(mesh, trimesh.PointCloud):
        if prep.normals:
            raise ValueError(f"{name}: a trimesh.PointCloud carries no normals, but the run fed (x, y, z, nx, ny, nz)")
        return prepare_cloud(np.asarray(mesh.vertices), prep, name, seed)
    surface = mesh.to_mesh() if isinstance(mesh, trimesh.Scene) else mesh
    try:
        solid = checked_mesh(np.asarray(surface.vertices, dtype=np.float64),
                             np.asarray(surface.faces, dtype=np.int64))
        return sample_surface(solid, prep.num_points, normals=prep.normals, up_axis=prep.up_axis,
                              rng=mesh_seed(seed, name))
    except MeshError as exc:
        raise ValueError(f"{name}: {exc.reason}") from None


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files named by ``patterns``: a file as is, a folder as the files a data set's class folder would hold
    (``folder.usable_files``: recursively, sorted, known suffixes; hidden files, hidden and ``_``-prefixed
    folders such as macOS's ``__MACOSX`` left out), a glob (``*``, ``?``, ``[``) as its matches. A name that
    matches nothing is kept, so reading it reports the missing file in its own record."""
    found: list[Path] = []
    for pattern in patterns:
        if Path(pattern).is_dir():
            found += [Path(pattern) / relative for relative in usable_files(Path(pattern))]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern, recursive=True))
            found += [p for p in matches if p.is_file()] or [Path(pattern)]
        else:
            found.append(Path(pattern))
    return found
