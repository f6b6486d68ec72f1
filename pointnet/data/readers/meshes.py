"""Read one mesh file into a triangle mesh, or fail with a :class:`MeshError` naming the file and why.

OFF files, ModelNet's format, go through a strict parser of our own, because real ModelNet copies have
traps that a generic loader mishandles or hides:

- the header fused with the counts on the first line (``OFF490 518 0``);
- polygon faces with 4 or more vertices, fan-triangulated here (never dropped);
- ``#`` comments, blank lines, CRLF line endings and trailing whitespace;
- a non-zero edge count, the header's third number, which is ignored;
- very few vertices, arbitrary units and offsets (kept as they are; sampling normalises).

A file is rejected, never half-read, when it is truncated, holds garbage, has counts that do not
match its content, NaN/inf coordinates, a face index out of range, no faces or zero surface area.
Other formats (``.obj``, ``.ply``, ``.stl``, ...) are loaded by ``trimesh.load`` and pass the same
geometric checks, so every caller sees one error contract.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pointnet.data.errors import MeshError, mesh_errors

if TYPE_CHECKING:  # trimesh takes about a second to import: loaded where a mesh is handled
    import trimesh

MESH_SUFFIXES: tuple[str, ...] = (".off", ".obj", ".ply", ".stl")
"""File suffixes (lower case) treated as meshes when listing a ModelNet-layout data set folder."""

SCENE_SUFFIXES: tuple[str, ...] = (".glb", ".gltf")
"""glTF scenes, read by trimesh as one mesh (every node's geometry, transformed); folder data sets and predict."""

_HEADER = re.compile(r"^((?:ST)?C?N?OFF)(.*)$")
_MIN_AREA = 1e-12  # relative to the squared bounding-box size


def read_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Load ``path`` as a triangle mesh with ``(V, 3)`` float64 vertices and ``(F, 3)`` int64 faces.

    Raises:
        MeshError: for any file that cannot be used; the message starts with the path.
    """
    path = Path(path)
    with mesh_errors(path):
        if path.suffix.lower() == ".off":
            vertices, faces = parse_off(_read_text(path))
        else:
            vertices, faces = _load_with_trimesh(path)
        return checked_mesh(vertices, faces)


def checked_mesh(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    """``(V, 3)`` vertices and ``(F, 3)`` faces as a mesh taken as they are, once :func:`check_geometry` passes.

    Raises:
        MeshError: the reason, without a path (callers name the source).
    """
    import trimesh

    check_geometry(vertices, faces)
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)


def _read_text(path: Path) -> str:
    """The file as text; OFF is ASCII, latin-1 keeps any stray byte in a comment decodable."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MeshError(f"cannot read file ({error.strerror or error})") from None
    if not data.strip():
        raise MeshError("empty file")
    if b"\x00" in data:
        raise MeshError("binary data (NUL bytes) in a text OFF file")
    return data.decode("latin-1")


def _data_rows(text: str) -> list[list[str]]:
    """Whitespace-split tokens of every line that holds data, comments and blank lines removed."""
    lines = text.splitlines()
    if "#" in text:
        lines = [line.partition("#")[0] for line in lines]
    return [row for row in map(str.split, lines) if row]


def parse_off(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse ASCII OFF text into ``(V, 3)`` float64 vertices and ``(F, 3)`` int64 triangles.

    Raises MeshError with the reason (without the path, which :func:`read_mesh` adds).
    """
    fast = None if "#" in text else _parse_triangle_grid(text)
    if fast is not None:
        return fast
    rows = _data_rows(text)
    if not rows:
        raise MeshError("no data (only comments or blank lines)")
    num_vertices, num_faces, start = _parse_header(rows)
    vertex_rows = rows[start : start + num_vertices]
    face_rows = rows[start + num_vertices : start + num_vertices + num_faces]
    if len(vertex_rows) < num_vertices or len(face_rows) < num_faces:
        found = len(rows) - start
        raise MeshError(
            f"truncated: header promises {num_vertices} vertices and {num_faces} faces "
            f"({num_vertices + num_faces} lines), file has {found} data lines after the header"
        )
    extra = len(rows) - start - num_vertices - num_faces
    if extra:
        raise MeshError(
            f"counts don't match: {extra} extra data line(s) after the {num_vertices} vertices "
            f"and {num_faces} faces the header announces"
        )
    vertices = _parse_vertices(vertex_rows)
    faces = _parse_faces(face_rows, num_vertices)
    return vertices, faces


def _parse_triangle_grid(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorised parse of the common case (3 numbers per vertex, triangles only), else ``None``.

    Three times faster than the line-by-line parser on large files. Any deviation from the exact
    token grid (``3V + 4F`` numbers, every face starting with 3) returns ``None`` so the
    line-by-line parser handles the file and words the error.
    """
    head = [row for row in map(str.split, text[:1024].splitlines()) if row]
    if len(head) < 3:
        return None
    num_vertices, num_faces, start = _parse_header(head)
    consumed = sum(len(row) for row in head[:start])
    body = text.split()[consumed:]
    if len(body) != 3 * num_vertices + 4 * num_faces or num_faces == 0:
        return None
    split = 3 * num_vertices
    try:
        vertices = np.array(body[:split], dtype=np.float64).reshape(num_vertices, 3)
        faces = np.array(body[split:], dtype=np.int64).reshape(num_faces, 4)
    except ValueError:
        return None
    if not (faces[:, 0] == 3).all():
        return None
    return vertices, _fan(faces[:, 1:], num_vertices)


def _parse_header(rows: list[list[str]]) -> tuple[int, int, int]:
    """``(num_vertices, num_faces, index of the first vertex row)``; accepts ``OFF490 518 0``."""
    match = _HEADER.match(rows[0][0])
    if match is None:
        raise MeshError(f"not an OFF file: header {' '.join(rows[0])[:40]!r}")
    fused = [match.group(2)] if match.group(2) else []
    counts, start = fused + rows[0][1:], 1
    if not counts:
        if len(rows) < 2:
            raise MeshError("truncated: no vertex/face counts after the OFF header")
        counts, start = rows[1], 2
    if counts[0].upper() == "BINARY":
        raise MeshError("binary OFF is not supported")
    if len(counts) < 2:
        raise MeshError(f"header counts {' '.join(counts)!r}: expected 'vertices faces [edges]'")
    try:
        num_vertices, num_faces = int(counts[0]), int(counts[1])
    except ValueError:
        raise MeshError(f"header counts {' '.join(counts[:3])!r} are not integers") from None
    if num_vertices < 0 or num_faces < 0:
        raise MeshError(f"negative counts in header: {num_vertices} vertices, {num_faces} faces")
    return num_vertices, num_faces, start


def _parse_vertices(rows: list[list[str]]) -> np.ndarray:
    """``(V, 3)`` float64 from rows of at least 3 numbers (extra values, e.g. colours, ignored)."""
    short = next((i for i, row in enumerate(rows) if len(row) < 3), None)
    if short is not None:
        raise MeshError(f"vertex {short} has {len(rows[short])} coordinates, expected 3")
    try:
        return np.array([row[:3] for row in rows], dtype=np.float64).reshape(len(rows), 3)
    except ValueError:
        bad = next(i for i, row in enumerate(rows) if not _all_numbers(row[:3]))
        raise MeshError(f"vertex {bad} is not three numbers: {' '.join(rows[bad])[:60]!r}") from None


def _all_numbers(tokens: list[str]) -> bool:
    try:
        [float(token) for token in tokens]
    except ValueError:
        return False
    return True


def _parse_faces(rows: list[list[str]], num_vertices: int) -> np.ndarray:
    """``(F', 3)`` int64 triangles; an n-gon line ``n i_1 .. i_n [colour]`` becomes n-2 triangles."""
    try:
        sizes = [int(row[0]) for row in rows]
    except ValueError:
        bad = next(i for i, row in enumerate(rows) if not row[0].lstrip("-").isdigit())
        raise MeshError(f"face {bad} does not start with a vertex count: {' '.join(rows[bad])[:60]!r}") from None
    groups: dict[int, list[list[str]]] = {}
    for i, (size, row) in enumerate(zip(sizes, rows, strict=True)):
        if size < 3:
            raise MeshError(f"face {i} {' '.join(row)[:60]!r} has fewer than 3 vertices")
        if len(row) <= size:
            raise MeshError(f"face {i} announces {size} vertices but lists {len(row) - 1}")
        groups.setdefault(size, []).append(row[1 : size + 1])
    triangles = [_fan(_indices(polygons), num_vertices) for polygons in groups.values()]
    return np.concatenate(triangles) if triangles else np.zeros((0, 3), dtype=np.int64)


def _indices(polygons: list[list[str]]) -> np.ndarray:
    try:
        return np.array(polygons, dtype=np.int64)
    except ValueError:
        raise MeshError("face vertex indices are not integers") from None


def _fan(polygons: np.ndarray, num_vertices: int) -> np.ndarray:
    """Fan-triangulate ``(K, n)`` polygons into ``(K*(n-2), 3)`` triangles after a range check.

    A fan from the first vertex is exact for the convex (mostly planar quad) faces of ModelNet.
    """
    low, high = int(polygons.min()), int(polygons.max())
    if low < 0 or high >= num_vertices:
        bad = low if low < 0 else high
        raise MeshError(f"face index {bad} out of range for {num_vertices} vertices")
    n = polygons.shape[1]
    fans = [polygons[:, [0, k, k + 1]] for k in range(1, n - 1)]
    return np.stack(fans, axis=1).reshape(-1, 3)


def _load_with_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a non-OFF file via ``trimesh.load`` (scenes are concatenated)."""
    import trimesh

    if not path.is_file():
        raise MeshError("no such file")
    mesh = trimesh.load(path, force="mesh", process=False)
    if not isinstance(mesh, trimesh.Trimesh):
        raise MeshError(f"not a triangle mesh ({type(mesh).__name__})")
    if len(mesh.faces) == 0:
        _refuse_point_cloud(path)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _refuse_point_cloud(path: Path) -> None:
    """Say so when a faceless file is a point cloud (``force="mesh"`` drops its vertices)."""
    import trimesh

    loaded = trimesh.load(path, process=False)
    if isinstance(loaded, trimesh.PointCloud) and len(loaded.vertices):
        raise MeshError(f"a point cloud ({len(loaded.vertices)} vertices, no faces), not a mesh: "
                        "give it as a point file")


def check_geometry(vertices: np.ndarray, faces: np.ndarray) -> None:
    """Reject what sampling cannot use: no faces, not 3-D triangles, non-finite coordinates, overflowing or zero
    total area."""
    if len(vertices) == 0:
        raise MeshError("no vertices")
    if len(faces) == 0:
        raise MeshError("no faces")
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise MeshError(f"vertices must be (V, 3) and faces (F, 3) triangles, got {vertices.shape} and {faces.shape}")
    finite = np.isfinite(vertices).all(axis=1)
    if not finite.all():
        raise MeshError(f"non-finite coordinates (NaN or inf) at vertex {int(np.argmin(finite))}")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"face index out of range for {len(vertices)} vertices")
    area = total_area(vertices, faces)
    with np.errstate(over="ignore"):
        size = float(np.ptp(vertices, axis=0).max())
    if not (np.isfinite(area) and np.isfinite(size)):
        largest = float(np.abs(vertices).max())
        raise MeshError(f"coordinates too large: its surface area overflows float64 arithmetic (largest |coordinate| "
                        f"{largest:.3g}); rescale the mesh")
    if area == 0.0 or area / size <= _MIN_AREA * size:
        raise MeshError(f"zero total surface area ({len(faces)} degenerate faces)")


def total_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Sum of the triangle areas of ``(F, 3)`` faces over ``(V, 3)`` vertices."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    with np.errstate(over="ignore", invalid="ignore"):
        return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
