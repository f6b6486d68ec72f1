"""Point clouds of known up axis for the up-axis tests: furniture and lamps built from boxes, z up.

Each builder takes a random generator and returns boxes ``(centre, size)`` in a z-up frame (floor at
z = 0); :func:`cloud` samples their surfaces (area-weighted, like a mesh's) after a random turn about z,
so no horizontal axis is special. Tall (lamp, shelf), wide (sofa, bed) and flat (coffee table, bench)
things, independent of :mod:`pointnet.data.synthetic.furniture` so the statistic is not checked on its own data.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

Box = tuple[tuple[float, float, float], tuple[float, float, float]]


def chair(rng: np.random.Generator) -> list[Box]:
    w, d, h = rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.5)
    back = rng.uniform(0.4, 0.6)
    return [*_legs(w, d, h, 0.04), ((0, 0, h), (w, d, 0.05)), ((0, d / 2 - 0.025, h + back / 2), (w, 0.05, back))]


def table(rng: np.random.Generator) -> list[Box]:
    w, d, h = rng.uniform(1.0, 1.8), rng.uniform(0.7, 1.0), rng.uniform(0.7, 0.8)
    return [*_legs(w, d, h, 0.06), ((0, 0, h), (w, d, 0.05))]


def coffee_table(rng: np.random.Generator) -> list[Box]:
    """Flat and low: much wider than tall."""
    w, d, h = rng.uniform(1.0, 1.4), rng.uniform(0.5, 0.8), rng.uniform(0.3, 0.4)
    return [*_legs(w, d, h, 0.05), ((0, 0, h), (w, d, 0.04)), ((0, 0, h * 0.3), (w * 0.9, d * 0.9, 0.02))]


def sofa(rng: np.random.Generator) -> list[Box]:
    w, d = rng.uniform(1.6, 2.2), rng.uniform(0.8, 0.95)
    seat, back, arm = rng.uniform(0.4, 0.45), rng.uniform(0.75, 0.85), rng.uniform(0.55, 0.65)
    return [((0, 0, seat / 2), (w, d, seat)), ((0, d / 2 - 0.1, back / 2), (w, 0.2, back)),
            ((-w / 2 + 0.1, 0, arm / 2), (0.2, d, arm)), ((w / 2 - 0.1, 0, arm / 2), (0.2, d, arm))]


def bed(rng: np.random.Generator) -> list[Box]:
    w, d = rng.uniform(1.4, 1.8), rng.uniform(1.9, 2.1)
    return [*_legs(w, d, 0.2, 0.08), ((0, 0, 0.35), (w, d, 0.3)), ((0, d / 2, 0.55), (w, 0.06, 1.1))]


def lamp(rng: np.random.Generator) -> list[Box]:
    height, shade = rng.uniform(1.2, 1.7), rng.uniform(0.35, 0.5)
    return [((0, 0, 0.02), (0.35, 0.35, 0.04)), ((0, 0, height / 2), (0.04, 0.04, height)),
            ((0, 0, height), (shade, shade, 0.3))]


def shelf(rng: np.random.Generator) -> list[Box]:
    """Tall, open: sides and five shelves, no back."""
    w, d, h = rng.uniform(0.7, 0.9), rng.uniform(0.3, 0.35), rng.uniform(1.6, 2.0)
    boards = [((0, 0, z), (w, d, 0.03)) for z in np.linspace(0.05, h, 5)]
    return [((-w / 2, 0, h / 2), (0.03, d, h)), ((w / 2, 0, h / 2), (0.03, d, h)), *boards]


def bench(rng: np.random.Generator) -> list[Box]:
    w, d, h = rng.uniform(1.2, 1.6), rng.uniform(0.3, 0.4), rng.uniform(0.4, 0.45)
    return [((-w / 2 + 0.1, 0, h / 2), (0.05, d, h)), ((w / 2 - 0.1, 0, h / 2), (0.05, d, h)),
            ((0, 0, h), (w, d, 0.05))]


def _legs(w: float, d: float, h: float, thick: float) -> list[Box]:
    corners = [(sx * (w / 2 - thick), sy * (d / 2 - thick)) for sx in (-1, 1) for sy in (-1, 1)]
    return [((x, y, h / 2), (thick, thick, h)) for x, y in corners]


BUILDERS: dict[str, Callable[[np.random.Generator], list[Box]]] = {
    "bed": bed, "bench": bench, "chair": chair, "coffee_table": coffee_table, "lamp": lamp, "shelf": shelf,
    "sofa": sofa, "table": table,
}
TALL, WIDE, FLAT = ("lamp", "shelf", "chair"), ("sofa", "bed", "table"), ("coffee_table", "bench")


def cloud(boxes: list[Box], points: int, rng: np.random.Generator) -> np.ndarray:
    """``(points, 3)`` samples of the boxes' surfaces, area-weighted, turned by a random angle about z."""
    faces = [face for centre, size in boxes for face in _faces(np.array(centre, float), np.array(size, float))]
    areas = np.array([area for area, _ in faces])
    chosen = rng.choice(len(faces), size=points, p=areas / areas.sum())
    samples = np.stack([faces[i][1](rng) for i in chosen])
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    return (samples @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])).astype(np.float32)


def _faces(centre: np.ndarray, size: np.ndarray) -> list[tuple[float, Callable[[np.random.Generator], np.ndarray]]]:
    """A box's six faces: ``(area, draw one point on it)``."""
    faces = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for side in (-0.5, 0.5):
            def draw(rng, axis=axis, side=side):
                point = centre + size * rng.uniform(-0.5, 0.5, 3)
                point[axis] = centre[axis] + side * size[axis]
                return point
            faces.append((float(size[others[0]] * size[others[1]]), draw))
    return faces


def data_set(per_class: int, points: int = 1024, seed: int = 0,
             classes: tuple[str, ...] = tuple(BUILDERS)) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(M, points, 3)`` z-up clouds, ``(M,)`` labels and the class names: ``per_class`` of each class."""
    rng = np.random.default_rng(seed)
    clouds = [cloud(BUILDERS[name](rng), points, rng) for name in classes for _ in range(per_class)]
    labels = np.repeat(np.arange(len(classes)), per_class)
    return np.stack(clouds), labels, list(classes)


def stood_on(points: np.ndarray, up: str) -> np.ndarray:
    """z-up clouds ``(..., 3)`` turned (a proper rotation) so that source axis ``up`` points up."""
    order = {"x": [2, 0, 1], "y": [1, 2, 0], "z": [0, 1, 2]}[up]
    return np.ascontiguousarray(points[..., order])
