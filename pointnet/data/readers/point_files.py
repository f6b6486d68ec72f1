"""Read a point-cloud file into an ``(N, 3)`` or ``(N, 6)`` float32 array, or fail naming the file.

Formats (by suffix, lower case):

- ``.npy``: one ``(N, 3)`` or ``(N, 6)`` array; ``.npz``: the array named ``points``, or the only one;
- ``.xyz``, ``.txt``, ``.pts``, ``.csv``: one point per line, columns separated by whitespace, commas (as in
  ModelNet40's resampled text files) or semicolons; header lines that are not numbers (``x,y,z``) and a
  lone point count before the points (Leica PTS) are skipped; 6 columns are ``x y z nx ny nz``, any other
  count of at least 3 keeps the first three (extra columns such as intensity or colour are ignored);
- ``.ply`` without faces (a vertex-only cloud), ASCII or binary (as Open3D, PCL and trimesh write it); its
  ``nx ny nz`` vertex properties, when present, are the normals. A PLY *with* faces is a mesh:
  :func:`ply_has_faces` tells them apart from the header alone, and :func:`read_point_file` refuses it.
- ``.pcd`` (PCL's format, as PCL, ROS and Open3D write it): ``DATA ascii``, ``binary`` or
  ``binary_compressed``; ``x y z`` and, when present, ``normal_x normal_y normal_z``, other fields ignored.
  Points with NaN or inf (an organised scan's holes) are dropped; see :mod:`pointnet.data.readers.pcd`.

Every problem raises :class:`MeshError` (the data layer's one contract for a bad source file), so a
data set preparation reports and skips the file and a caller such as predict can print why. Values
are returned as read: no centring, scaling or axis change (see :mod:`pointnet.data.readers.sampling`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pointnet.data.errors import MeshError, mesh_errors
from pointnet.data.readers.pcd import read_pcd

POINT_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".xyz", ".txt", ".pts", ".csv", ".ply", ".pcd")
"""Suffixes :func:`read_point_file` reads (``.ply`` only as a vertex-only cloud)."""

TEXT_SUFFIXES: tuple[str, ...] = (".xyz", ".txt", ".pts", ".csv")
_TEXT_SAMPLE = 65536  # characters read to find the header, the delimiter and the first row


def read_point_file(path: str | os.PathLike) -> np.ndarray:
    """The points of ``path``: ``(N, 3)`` xyz or ``(N, 6)`` xyz + normals, float32, all finite.

    Raises:
        MeshError: unknown suffix, unreadable or malformed file, wrong shape, no points, NaN/inf,
            or a PLY that holds faces (a mesh). The message starts with the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    with mesh_errors(path):
        if suffix not in POINT_SUFFIXES:
            raise MeshError(f"unsupported point file type {suffix!r}; use one of {', '.join(POINT_SUFFIXES)}")
        if not path.is_file():
            raise MeshError("no such file")
        return _checked(_READERS[suffix](path))


def _read_npy(path: Path) -> np.ndarray:
    """Memory-mapped: a header claiming billions of points is refused against the file size, never allocated."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.keys())
        if "points" in names:
            return archive["points"]
        if len(names) != 1:
            raise MeshError(f"holds arrays {names}; name the point array 'points'")
        return archive[names[0]]


def _read_text(path: Path) -> np.ndarray:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:  # -sig: Excel's CSVs start with a BOM
        sample = handle.read(_TEXT_SAMPLE)
    if not sample.strip():
        raise MeshError("no points (empty file)")
    skip, delimiter = text_layout(sample)
    values = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=2, comments="#", skiprows=skip,
                        encoding="utf-8-sig")
    if values.size == 0:
        raise MeshError("no points")
    return values if values.shape[1] == 6 else values[:, :3] if values.shape[1] >= 3 else values


def text_layout(sample: str) -> tuple[int, str | None]:
    """``(lines to skip, column delimiter)`` of a text point file, judged from its first ``sample``.

    Skips the header lines that are not numbers (``x y z``, ``X,Y,Z,Nx,Ny,Nz``) and a lone point count
    on the line before the points (the Leica PTS layout). The delimiter, from the first row of numbers:
    comma, else semicolon, else any whitespace (spaces, tabs).
    """
    rows = ((i, line.partition("#")[0].strip()) for i, line in enumerate(sample.splitlines()))
    numeric = ((i, text, values) for i, text in rows if text and (values := _split_numbers(text)) is not None)
    first = next(numeric, None)
    if first is None:
        raise MeshError(f"no row of numbers in the first {len(sample)} characters; first line "
                        f"{sample.strip().splitlines()[0][:60]!r}")
    start, text, values = first
    if len(values) == 1 and values[0].is_integer():  # a lone count, if points follow it
        second = next(numeric, None)
        if second is not None and len(second[2]) >= 3:
            start, text, values = second
    return start, _delimiter(text)


def _delimiter(text: str) -> str | None:
    return "," if "," in text else ";" if ";" in text else None


def _split_numbers(text: str) -> list[float] | None:
    try:
        return [float(token) for token in text.split(_delimiter(text))]
    except ValueError:
        return None


def _read_ply(path: Path) -> np.ndarray:
    import trimesh  # about a second to import: loaded only for a PLY cloud

    faces = ply_has_faces(path)
    if faces:
        raise MeshError(f"a mesh with {faces} faces, not a vertex-only point cloud")
    cloud = trimesh.load(path, file_type="ply", process=False)
    if not isinstance(cloud, (trimesh.PointCloud, trimesh.Trimesh)):  # a vertex-only PLY loads as a PointCloud
        raise MeshError(f"read as a {type(cloud).__name__}, not a point cloud")
    xyz = np.asarray(cloud.vertices, dtype=np.float64)
    vertex = getattr(cloud, "metadata", {}).get("_ply_raw", {}).get("vertex", {}).get("data", {})
    names = (vertex.dtype.names or ()) if isinstance(vertex, np.ndarray) else tuple(vertex)
    if all(name in names for name in ("nx", "ny", "nz")):
        normals = np.stack([np.asarray(vertex[n], dtype=np.float64).reshape(-1) for n in ("nx", "ny", "nz")], axis=1)
        if len(normals) == len(xyz):
            return np.concatenate([xyz, normals], axis=1)
    return xyz


_READERS = {".npy": _read_npy, ".npz": _read_npz, ".ply": _read_ply, ".pcd": read_pcd,
            **{suffix: _read_text for suffix in TEXT_SUFFIXES}}


def unit_normals(points: np.ndarray, name: str | os.PathLike) -> np.ndarray:
    """``(N, 6)`` points with their normals (columns 4-6) rescaled to unit length, as training feeds them.

    Raises:
        MeshError: the columns are RGB colours (:func:`looks_like_colours`) or a normal has zero length.
    """
    if looks_like_colours(points[:, 3:6]):
        raise MeshError("columns 4-6 hold integers 0-255, colours rather than normals; data.normals=true needs "
                        "x y z nx ny nz", name)
    out = np.array(points[:, :6], dtype=np.float64)
    length = np.linalg.norm(out[:, 3:], axis=1, keepdims=True)
    if not (length > 0).all():
        raise MeshError("has zero-length normals", name)
    out[:, 3:] /= length
    return out


def looks_like_colours(values: np.ndarray) -> bool:
    """Whether ``(N, 3)`` extra columns are RGB bytes (``x y z r g b`` files): whole numbers in [0, 255], some above 1.

    Unit normals of a closed shape have negative components and none above 1, so they never match.
    """
    return bool(len(values) and values.min() >= 0 and 1 < values.max() <= 255 and (values == np.round(values)).all())


def ply_has_faces(path: str | os.PathLike) -> int:
    """The face count a PLY header announces (0 for a vertex-only cloud); reads the header only.

    Raises:
        MeshError: not a PLY file, or no ``end_header`` within the first 64 KiB.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError as error:
        raise MeshError(f"cannot read file ({error.strerror or error})", path) from None
    if not head.startswith(b"ply"):
        raise MeshError("not a PLY file (no 'ply' magic line)", path)
    header, found, _ = head.partition(b"end_header")
    if not found:
        raise MeshError("PLY header has no end_header", path)
    for line in header.decode("latin-1").splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "element" and words[1] == "face":
            return int(words[2]) if words[2].isdigit() else 0
    return 0


def _checked(points: np.ndarray) -> np.ndarray:
    """``points`` as float32 after the shape and finiteness checks every reader shares."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] not in (3, 6):
        raise MeshError(f"expected an (N, 3) or (N, 6) array, got shape {points.shape}")
    if len(points) == 0:
        raise MeshError("no points")
    if not np.issubdtype(points.dtype, np.number):
        raise MeshError(f"values of type {points.dtype} are not numbers")
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        raise MeshError(f"non-finite values (NaN or inf) at point {int(np.argmin(finite))}")
    return points.astype(np.float32)
