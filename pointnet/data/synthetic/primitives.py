"""Polygon meshes for the synthetic corpus: boxes, frusta, ellipsoids, and OFF text in ModelNet's dialect.

A :class:`PolyMesh` keeps faces as polygons (quads, n-gon caps), grouped by size, so OFF files can
be written either with polygon faces or triangulated, as real ModelNet files are. Part shapes are
built about the origin and placed with ``moved``/``rotated``; everything is z up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class PolyMesh:
    """``vertices`` ``(V, 3)`` float64 and ``faces`` ``{n: (K, n) int64}`` polygons, counter-clockwise."""

    vertices: np.ndarray
    faces: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def num_faces(self) -> int:
        return sum(len(polygons) for polygons in self.faces.values())

    def moved(self, offset) -> PolyMesh:
        """Translated by ``offset`` ``(3,)``."""
        return PolyMesh(self.vertices + np.asarray(offset, dtype=np.float64), self.faces)

    def rotated(self, matrix: np.ndarray, about=(0.0, 0.0, 0.0)) -> PolyMesh:
        """Rotated by the ``3x3`` ``matrix`` about the point ``about``."""
        about = np.asarray(about, dtype=np.float64)
        return PolyMesh((self.vertices - about) @ np.asarray(matrix).T + about, self.faces)

    def scaled(self, factors) -> PolyMesh:
        """Scaled per axis by ``factors`` (scalar or ``(3,)``) about the origin."""
        return PolyMesh(self.vertices * np.asarray(factors, dtype=np.float64), self.faces)

    def triangles(self) -> np.ndarray:
        """All faces fan-triangulated: ``(F, 3)`` int64."""
        fans = [polygons[:, [0, k, k + 1]] for n, polygons in self.faces.items() for k in range(1, n - 1)]
        return np.concatenate(fans) if fans else np.zeros((0, 3), dtype=np.int64)

    def to_off(self, *, polygons: bool = True, fused_header: bool = False, edges: int = 0,
               comment: str | None = None, crlf: bool = False) -> str:
        """OFF text: polygon or triangulated faces, ``OFF<V> <F> <E>`` fused header, comment, CRLF."""
        groups = self.faces if polygons else {3: self.triangles()}
        num_faces = sum(len(g) for g in groups.values())
        counts = f"{len(self.vertices)} {num_faces} {edges}"
        lines = [f"OFF{counts}"] if fused_header else ["OFF", counts]
        if comment:
            lines.insert(1, f"# {comment}")
        lines.append((("%.6f %.6f %.6f\n" * len(self.vertices)) % tuple(self.vertices.ravel())).rstrip("\n"))
        for n, faces in groups.items():
            row = " ".join(["%d"] * (n + 1)) + "\n"
            table = np.concatenate([np.full((len(faces), 1), n), faces], axis=1)
            lines.append(((row * len(faces)) % tuple(table.ravel())).rstrip("\n"))
        text = "\n".join(line for line in lines if line) + "\n"
        return text.replace("\n", "\r\n") if crlf else text


def merge(parts: list[PolyMesh]) -> PolyMesh:
    """One mesh holding every part (faces re-indexed)."""
    vertices: list[np.ndarray] = []
    groups: dict[int, list[np.ndarray]] = {}
    offset = 0
    for part in parts:
        vertices.append(part.vertices)
        for n, polygons in part.faces.items():
            groups.setdefault(n, []).append(polygons + offset)
        offset += len(part.vertices)
    return PolyMesh(np.concatenate(vertices), {n: np.concatenate(g) for n, g in sorted(groups.items())})


def box(size, center=(0.0, 0.0, 0.0)) -> PolyMesh:
    """An axis-aligned box of ``size`` ``(dx, dy, dz)`` centred at ``center``: 8 vertices, 6 quads."""
    corners = np.array([[x, y, z] for z in (-0.5, 0.5) for y in (-0.5, 0.5) for x in (-0.5, 0.5)])
    quads = np.array([[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]])
    return PolyMesh(corners * np.asarray(size, dtype=np.float64) + np.asarray(center), {4: quads})


def slab(x0, x1, y0, y1, z0, z1) -> PolyMesh:
    """The box spanning ``[x0, x1] x [y0, y1] x [z0, z1]``."""
    return box((x1 - x0, y1 - y0, z1 - z0), ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2))


def frustum(r_bottom: float, r_top: float, height: float, sections: int = 16,
            center=(0.0, 0.0, 0.0)) -> PolyMesh:
    """A z-axis frustum (a cylinder if the radii match): side quads and two n-gon caps.

    ``center`` is the centre of the bottom cap.
    """
    angles = np.linspace(0.0, 2.0 * math.pi, sections, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles), np.zeros(sections)], axis=1)
    bottom, top = ring * [r_bottom, r_bottom, 1.0], ring * [r_top, r_top, 1.0] + [0.0, 0.0, height]
    i = np.arange(sections)
    j = (i + 1) % sections
    faces = {4: np.stack([i, j, j + sections, i + sections], axis=1),
             sections: np.stack([i[::-1], i + sections])}
    return PolyMesh(np.concatenate([bottom, top]) + np.asarray(center, dtype=np.float64), faces)


def cylinder_between(start, end, radius: float, sections: int = 12) -> PolyMesh:
    """A cylinder of ``radius`` whose axis runs from ``start`` to ``end`` (legs, poles, arms)."""
    import trimesh

    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    axis = end - start
    length = float(np.linalg.norm(axis))
    rotation = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], axis / length)[:3, :3]
    return frustum(radius, radius, length, sections).rotated(rotation).moved(start)


def ellipsoid(radii, center=(0.0, 0.0, 0.0), subdivisions: int = 2) -> PolyMesh:
    """An ellipsoid from trimesh's icosphere (triangles), ``radii`` ``(rx, ry, rz)``."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    mesh = PolyMesh(np.asarray(sphere.vertices, dtype=np.float64), {3: np.asarray(sphere.faces, dtype=np.int64)})
    return mesh.scaled(radii).moved(center)


def rotation_z(angle: float) -> np.ndarray:
    """``3x3`` rotation by ``angle`` radians about z."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(angle: float) -> np.ndarray:
    """``3x3`` rotation by ``angle`` radians about x (tilts a back or a screen)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
