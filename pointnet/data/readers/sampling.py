"""From a triangle mesh to a normalised point cloud: area-weighted surface samples, z up, unit sphere.

Convention: every point cloud this package returns has **z up**. ``up_axis`` names the up axis of the
*source*; ``"y"`` (the pre-sampled HDF5 / resampled ModelNet40 distributions, and many real mesh sets)
is turned to z by a proper rotation of +90 degrees about x, ``(x, y, z) -> (x, -z, y)``; ``"x"`` by
the cyclic permutation ``(x, y, z) -> (y, z, x)`` (also a proper rotation); both are applied to normals
too. ModelNet's OFF meshes are already z up (``"z"``, the default: nothing is rotated). Everything
downstream (rotation augmentation, voting, critical points, predict) therefore works about z.

Normalisation, as in the paper's released code: centre at the centroid of the points, then scale so
the farthest point lies on the unit sphere. Normals (unit vectors) are unchanged by both steps.
"""
from __future__ import annotations

import os
import zlib
from typing import TYPE_CHECKING

import numpy as np

from pointnet.data.errors import MeshError
from pointnet.data.readers.meshes import read_mesh
from pointnet.data.readers.orientation import orient_faces

if TYPE_CHECKING:  # trimesh takes about a second to import: loaded where a mesh is handled
    import trimesh

UP_AXES: tuple[str, ...] = ("x", "y", "z")

_TO_Z = {  # rows: new x, y, z in source coordinates
    "x": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
}


def source_axis(axis: int, up_axis: str) -> str:
    """The name, in the source's coordinates, of axis ``axis`` (0..2) of a cloud turned z up."""
    if check_up_axis(up_axis) == "z":
        return "xyz"[axis]
    return "xyz"[int(np.argmax(np.abs(_TO_Z[up_axis][axis])))]


def z_up_axes(names: str, up_axis: str) -> tuple[int, ...]:
    """The axes (0..2) of a cloud turned z up that the source axes ``names`` (e.g. ``"xz"``) became."""
    return tuple(next(axis for axis in range(3) if source_axis(axis, up_axis) == name) for name in names)


def check_up_axis(up_axis: str) -> str:
    """Return ``up_axis`` if it is one of :data:`UP_AXES`, else raise ``ValueError`` listing them."""
    if up_axis not in UP_AXES:
        raise ValueError(f"up_axis must be one of {UP_AXES}, got {up_axis!r}")
    return up_axis


def to_z_up(points: np.ndarray, up_axis: str) -> np.ndarray:
    """Rotate ``(N, 3)`` points or ``(N, 6)`` points+normals from ``up_axis`` up to z up."""
    if check_up_axis(up_axis) == "z":
        return points
    out = np.empty_like(points)
    rotation = _TO_Z[up_axis].T.astype(points.dtype)
    for start in range(0, points.shape[1], 3):
        out[:, start : start + 3] = points[:, start : start + 3] @ rotation
    return out


def normalize(points: np.ndarray) -> np.ndarray:
    """Centre ``(N, 3|6)`` xyz at their centroid and scale them into the unit sphere: float32 copy.

    Computed in float64, so far-off-origin sources (large offsets) keep their precision.
    """
    out = np.array(points, dtype=np.float64, copy=True)
    xyz = out[:, :3]
    xyz -= xyz.mean(axis=0)
    radius = float(np.sqrt((xyz * xyz).sum(axis=1).max()))
    if not np.isfinite(radius) or radius == 0.0:
        raise MeshError("all sampled points coincide; cannot scale into the unit sphere")
    xyz /= radius
    return out.astype(np.float32)


def mesh_seed(seed: int, key: str) -> np.random.Generator:
    """A generator determined by the run ``seed`` and a file's relative path ``key`` only.

    Independent of worker count and processing order, so a cache is bit-identical however it is built.
    """
    return np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8"))])


def sample_surface(
    mesh: trimesh.Trimesh,
    count: int,
    *,
    normals: bool = False,
    up_axis: str = "z",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """``count`` area-weighted uniform surface samples, z up, normalised: ``(count, 3)`` float32.

    With ``normals`` the result is ``(count, 6)``: xyz then the face normal of each sample's face, after
    :func:`~pointnet.data.orientation.orient_faces` has made the winding consistent (and a closed mesh
    outward), so the normals of a mesh written with mixed windings agree in sign.
    """
    import trimesh

    if normals:
        faces = orient_faces(mesh.vertices, mesh.faces)
        if not np.array_equal(faces, mesh.faces):
            mesh = trimesh.Trimesh(mesh.vertices, faces, process=False, validate=False)
    points, face_index = trimesh.sample.sample_surface(mesh, int(count), seed=rng)
    if normals:
        points = np.concatenate([points, mesh.face_normals[face_index]], axis=1)
    return normalize(to_z_up(np.asarray(points), up_axis))


def sample_mesh_file(
    path: str | os.PathLike,
    key: str,
    *,
    count: int,
    normals: bool = False,
    up_axis: str = "z",
    seed: int = 0,
) -> np.ndarray:
    """Read ``path`` and sample it: ``(count, 3|6)`` float32; raises MeshError for a bad file.

    ``key`` (the path relative to the data set root) picks the per-mesh random stream.
    """
    mesh = read_mesh(path)
    try:
        return sample_surface(mesh, count, normals=normals, up_axis=up_axis, rng=mesh_seed(seed, key))
    except MeshError as error:
        raise MeshError(error.reason, path) from None
