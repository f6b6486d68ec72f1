"""Procedural furniture: one builder per class, each a composition of primitives with random proportions.

Every builder takes a ``numpy.random.Generator`` and returns parts in metres, z up, standing on
``z = 0``, front towards ``-y``. Variation is structural (leg styles, optional arms, shelves, pillows)
as well as metric, and several classes are deliberately close (chair / stool / bench, table / desk,
bed / sofa, bookshelf / dresser), so telling them apart takes the shape, not its size or one part.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from pointnet.data.synthetic.primitives import (
    PolyMesh,
    box,
    cylinder_between,
    ellipsoid,
    frustum,
    rotation_x,
    slab,
)

Builder = Callable[[np.random.Generator], list[PolyMesh]]


def _legs(rng, x: float, y: float, height: float, *, inset: float = 0.03, round_p: float = 0.5,
          splay: float = 0.0) -> list[PolyMesh]:
    """Four legs under a ``2x`` by ``2y`` top, from the floor to ``height``; box or round, maybe splayed."""
    thick = rng.uniform(0.025, 0.05)
    round_legs = rng.random() < round_p
    legs = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            top = np.array([sx * (x - inset), sy * (y - inset), height])
            foot = top + [sx * splay, sy * splay, -height]
            foot[2] = 0.0
            if round_legs or splay:
                legs.append(cylinder_between(foot, top, thick / 2, sections=10))
            else:
                legs.append(box((thick, thick, height), (top[0], top[1], height / 2)))
    return legs


def chair(rng) -> list[PolyMesh]:
    """Seat at knee height, a tall back, four legs or a swivel base, sometimes arms."""
    w, d = rng.uniform(0.40, 0.55), rng.uniform(0.40, 0.52)
    h, t = rng.uniform(0.42, 0.50), rng.uniform(0.03, 0.07)
    parts = [slab(-w / 2, w / 2, -d / 2, d / 2, h - t, h)]
    if rng.random() < 0.25:  # office chair: column and five spokes
        parts.append(cylinder_between([0, 0, 0.08], [0, 0, h - t], 0.03))
        for k in range(5):
            a = 2 * math.pi * k / 5
            parts.append(cylinder_between([0, 0, 0.06], [0.3 * math.cos(a), 0.3 * math.sin(a), 0.03], 0.02, 8))
    else:
        parts += _legs(rng, w / 2, d / 2, h - t)
    back_h, back_t = rng.uniform(0.35, 0.60), rng.uniform(0.02, 0.05)
    back = slab(-w / 2 * rng.uniform(0.8, 1.0), w / 2 * rng.uniform(0.8, 1.0), d / 2 - back_t, d / 2, h, h + back_h)
    parts.append(back.rotated(rotation_x(-rng.uniform(0.0, 0.25)), about=(0, d / 2, h)))
    if rng.random() < 0.3:
        for sx in (-1, 1):
            parts.append(slab(sx * w / 2 - 0.03, sx * w / 2 + 0.03, -d / 2, d / 2, h + 0.18, h + 0.22))
            parts.append(box((0.03, 0.03, 0.2), (sx * w / 2, -d / 2 + 0.05, h + 0.1)))
    return parts


def stool(rng) -> list[PolyMesh]:
    """A seat and three or four legs, no back; round or square, low or bar height, maybe a foot ring."""
    h = rng.uniform(0.45, 0.80)
    r = rng.uniform(0.15, 0.22)
    t = rng.uniform(0.03, 0.06)
    round_seat = rng.random() < 0.6
    parts = [frustum(r, r, t, 20, center=(0, 0, h - t)) if round_seat else slab(-r, r, -r, r, h - t, h)]
    count = 3 if rng.random() < 0.4 else 4
    splay = rng.uniform(0.0, 0.08)
    for k in range(count):
        a = 2 * math.pi * k / count + math.pi / 4
        top = [0.8 * r * math.cos(a), 0.8 * r * math.sin(a), h - t]
        foot = [(0.8 * r + splay) * math.cos(a), (0.8 * r + splay) * math.sin(a), 0.0]
        parts.append(cylinder_between(foot, top, rng.uniform(0.012, 0.022), 8))
    if rng.random() < 0.5:
        ring_z = h * rng.uniform(0.3, 0.45)
        parts.append(frustum(r * 1.05, r * 1.05, 0.02, 16, center=(0, 0, ring_z)))
    return parts


def bench(rng) -> list[PolyMesh]:
    """A long, shallow seat at knee height on slab ends or legs; a slatted back now and then."""
    length, d = rng.uniform(1.0, 1.8), rng.uniform(0.30, 0.45)
    h, t = rng.uniform(0.40, 0.48), rng.uniform(0.03, 0.06)
    parts = [slab(-length / 2, length / 2, -d / 2, d / 2, h - t, h)]
    if rng.random() < 0.5:
        inset = rng.uniform(0.05, 0.2)
        for sx in (-1, 1):
            x = sx * (length / 2 - inset)
            parts.append(slab(x - 0.025, x + 0.025, -d / 2, d / 2, 0.0, h - t))
    else:
        parts += _legs(rng, length / 2, d / 2, h - t, inset=0.05)
    if rng.random() < 0.25:
        for k in range(3):
            z = h + 0.12 + 0.1 * k
            parts.append(slab(-length / 2, length / 2, d / 2 - 0.03, d / 2, z, z + 0.05))
    return parts


def table(rng) -> list[PolyMesh]:
    """A large thin top at waist height on four legs or a pedestal; rectangular or round."""
    h, t = rng.uniform(0.70, 0.78), rng.uniform(0.03, 0.06)
    if rng.random() < 0.3:
        r = rng.uniform(0.4, 0.6)
        return [frustum(r, r, t, 24, center=(0, 0, h - t)),
                cylinder_between([0, 0, 0.03], [0, 0, h - t], rng.uniform(0.04, 0.07)),
                frustum(r * 0.5, r * 0.45, 0.03, 16)]
    length, w = rng.uniform(0.9, 1.8), rng.uniform(0.6, 1.0)
    parts = [slab(-length / 2, length / 2, -w / 2, w / 2, h - t, h)]
    parts += _legs(rng, length / 2, w / 2, h - t, inset=rng.uniform(0.03, 0.1))
    if rng.random() < 0.5:  # apron
        parts.append(slab(-length / 2 + 0.05, length / 2 - 0.05, -w / 2 + 0.05, w / 2 - 0.05, h - t - 0.08, h - t))
    return parts


def desk(rng) -> list[PolyMesh]:
    """A table-height top carried by a drawer pedestal on one side and a panel or legs on the other."""
    length, w = rng.uniform(1.0, 1.6), rng.uniform(0.5, 0.75)
    h, t = rng.uniform(0.72, 0.78), rng.uniform(0.025, 0.04)
    parts = [slab(-length / 2, length / 2, -w / 2, w / 2, h - t, h)]
    side = 1 if rng.random() < 0.5 else -1
    pw = rng.uniform(0.35, 0.45)
    x0, x1 = sorted((side * length / 2, side * (length / 2 - pw)))
    parts.append(slab(x0, x1, -w / 2, w / 2, 0.0, h - t))
    drawers = int(rng.integers(2, 5))
    for k in range(drawers):
        z = (h - t) * (k + 0.5) / drawers
        parts.append(slab(x0 + 0.02, x1 - 0.02, -w / 2 - 0.015, -w / 2, z - 0.06, z + 0.06))
    other = -side * (length / 2 - 0.03)
    if rng.random() < 0.6:
        parts.append(slab(other - 0.025, other + 0.025, -w / 2, w / 2, 0.0, h - t))
    else:
        for y in (-w / 2 + 0.04, w / 2 - 0.04):
            parts.append(box((0.04, 0.04, h - t), (other, y, (h - t) / 2)))
    if rng.random() < 0.6:  # modesty panel at the back
        parts.append(slab(-length / 2 + 0.05, length / 2 - 0.05, w / 2 - 0.03, w / 2 - 0.01, 0.3, h - t))
    return parts


def bed(rng) -> list[PolyMesh]:
    """A long mattress on a low frame, a tall headboard, maybe a footboard and pillows."""
    length, w = rng.uniform(1.9, 2.15), rng.uniform(0.9, 1.8)
    base_h = rng.uniform(0.15, 0.35)
    mattress = rng.uniform(0.18, 0.3)
    parts = [slab(-w / 2, w / 2, -length / 2, length / 2, 0.0, base_h),
             slab(-w / 2 + 0.02, w / 2 - 0.02, -length / 2 + 0.02, length / 2 - 0.02, base_h, base_h + mattress)]
    head = rng.uniform(0.8, 1.25)
    parts.append(slab(-w / 2 - 0.02, w / 2 + 0.02, length / 2, length / 2 + 0.06, 0.0, head))
    if rng.random() < 0.5:
        parts.append(slab(-w / 2 - 0.02, w / 2 + 0.02, -length / 2 - 0.05, -length / 2, 0.0,
                          base_h + mattress + rng.uniform(0.05, 0.3)))
    pillows = 1 if w < 1.2 else 2
    for k in range(pillows):
        x = (k - (pillows - 1) / 2) * w / 2
        parts.append(ellipsoid((w / (2.4 * pillows), 0.18, 0.06),
                               (x, length / 2 - 0.25, base_h + mattress + 0.04), subdivisions=1))
    return parts


def sofa(rng) -> list[PolyMesh]:
    """A deep seat block, a thick back and two arm blocks, with seat cushions; now and then an L."""
    length, d = rng.uniform(1.5, 2.3), rng.uniform(0.8, 1.0)
    seat = rng.uniform(0.38, 0.45)
    back_top, back_t = rng.uniform(0.75, 0.95), rng.uniform(0.15, 0.25)
    arm_w, arm_h = rng.uniform(0.1, 0.25), rng.uniform(0.55, 0.7)
    parts = [slab(-length / 2, length / 2, -d / 2, d / 2, 0.08, seat - 0.1),
             slab(-length / 2, length / 2, d / 2 - back_t, d / 2, 0.08, back_top)]
    for sx in (-1, 1):
        parts.append(slab(sx * length / 2 - arm_w / 2, sx * length / 2 + arm_w / 2, -d / 2, d / 2, 0.08, arm_h))
        parts.append(box((0.05, 0.05, 0.08), (sx * (length / 2 - 0.1), 0.0, 0.04)))
    cushions = int(rng.integers(2, 4))
    inner = length - arm_w
    for k in range(cushions):
        x0 = -inner / 2 + inner * k / cushions
        parts.append(slab(x0 + 0.01, x0 + inner / cushions - 0.01, -d / 2, d / 2 - back_t, seat - 0.1, seat))
    if rng.random() < 0.2:
        parts.append(slab(length / 2 - 0.7, length / 2, -d / 2 - 0.8, -d / 2, 0.08, seat))
    return parts


def bathtub(rng) -> list[PolyMesh]:
    """An open-topped hollow box: floor and four walls; sometimes raised on feet."""
    length, w, h = rng.uniform(1.4, 1.8), rng.uniform(0.7, 0.9), rng.uniform(0.45, 0.6)
    wall = rng.uniform(0.05, 0.1)
    lift = rng.uniform(0.08, 0.15) if rng.random() < 0.3 else 0.0
    x, y = length / 2, w / 2
    parts = [slab(-x, x, -y, y, lift, lift + wall),
             slab(-x, x, -y, -y + wall, lift, lift + h), slab(-x, x, y - wall, y, lift, lift + h),
             slab(-x, -x + wall, -y, y, lift, lift + h), slab(x - wall, x, -y, y, lift, lift + h)]
    if lift:
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(ellipsoid((0.05, 0.05, lift / 2), (sx * (x - 0.15), sy * (y - 0.1), lift / 2), 1))
    if rng.random() < 0.4:  # rim
        parts.append(slab(-x - 0.03, x + 0.03, -y - 0.03, y + 0.03, lift + h, lift + h + 0.03))
    return parts


def lamp(rng) -> list[PolyMesh]:
    """A heavy base, a thin pole (table or floor height), and a shade; sometimes an arched arm."""
    height = rng.uniform(0.4, 1.6)
    base_r = rng.uniform(0.08, 0.16)
    parts = [frustum(base_r, base_r * 0.9, rng.uniform(0.02, 0.05), 20)]
    shade_h = rng.uniform(0.15, 0.3) * (0.6 + 0.4 * height)
    r_bottom, r_top = rng.uniform(0.12, 0.25), rng.uniform(0.05, 0.12)
    if rng.random() < 0.3:
        reach = rng.uniform(0.25, 0.45)
        elbow = [0.0, 0.0, height]
        parts.append(cylinder_between([0, 0, 0.02], elbow, 0.012))
        tip = [reach, 0.0, height - 0.05]
        parts.append(cylinder_between(elbow, tip, 0.01))
        parts.append(frustum(r_bottom * 0.8, r_top * 0.6, shade_h, 16, center=(tip[0], 0, tip[2] - shade_h)))
    else:
        parts.append(cylinder_between([0, 0, 0.02], [0, 0, height], rng.uniform(0.01, 0.02)))
        parts.append(frustum(r_bottom, r_top, shade_h, 20, center=(0, 0, height - shade_h * 0.4)))
    parts.append(ellipsoid((0.04, 0.04, 0.05), (parts[-1].vertices[:, 0].mean(), 0, height - shade_h * 0.3), 1))
    return parts


def bookshelf(rng) -> list[PolyMesh]:
    """A tall open cabinet: sides, top, bottom, back, evenly spaced shelves, sometimes books."""
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.25, 0.4), rng.uniform(1.0, 2.0)
    t = rng.uniform(0.015, 0.03)
    x, y = w / 2, d / 2
    parts = [slab(-x, -x + t, -y, y, 0.0, h), slab(x - t, x, -y, y, 0.0, h),
             slab(-x, x, -y, y, h - t, h), slab(-x, x, -y, y, 0.0, 0.06),
             slab(-x, x, y - 0.01, y, 0.0, h)]
    shelves = int(rng.integers(2, 7))
    levels = np.linspace(0.06, h - t, shelves + 1)
    for z in levels[1:-1]:
        parts.append(slab(-x + t, x - t, -y, y - 0.01, z - t / 2, z + t / 2))
    if rng.random() < 0.5:
        for z0, z1 in itertools.pairwise(levels):
            books = int(rng.integers(0, 6))
            xs = np.sort(rng.uniform(-x + t, x - t - 0.05, books))
            for bx in xs:
                top = z0 + t + (z1 - z0) * rng.uniform(0.5, 0.85)
                parts.append(slab(bx, bx + 0.04, -y + 0.03, y - 0.03, z0 + t, top))
    return parts


def dresser(rng) -> list[PolyMesh]:
    """A closed chest of drawers, wider than tall, drawer fronts proud of the face, short feet."""
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.4, 0.55), rng.uniform(0.7, 1.2)
    feet = rng.uniform(0.03, 0.1)
    x, y = w / 2, d / 2
    parts = [slab(-x, x, -y, y, feet, h)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(box((0.05, 0.05, feet), (sx * (x - 0.05), sy * (y - 0.05), feet / 2)))
    rows, cols = int(rng.integers(3, 6)), int(rng.integers(1, 3))
    for r in range(rows):
        for c in range(cols):
            z0 = feet + (h - feet) * r / rows
            x0 = -x + w * c / cols
            parts.append(slab(x0 + 0.02, x0 + w / cols - 0.02, -y - 0.02, -y, z0 + 0.02, z0 + (h - feet) / rows - 0.02))
    return parts


def monitor(rng) -> list[PolyMesh]:
    """A thin upright screen on a neck and a flat foot; sometimes a deep CRT-like back."""
    w = rng.uniform(0.45, 0.75)
    sh = w * rng.uniform(0.55, 0.68)
    t = rng.uniform(0.02, 0.05)
    lift = rng.uniform(0.06, 0.15)
    screen = slab(-w / 2, w / 2, -t / 2, t / 2, lift, lift + sh)
    parts = [screen.rotated(rotation_x(rng.uniform(-0.15, 0.05)), about=(0, 0, lift))]
    if rng.random() < 0.2:
        parts.append(frustum(0.7 * sh / 2, 0.4 * sh / 2, rng.uniform(0.2, 0.35), 4,
                             center=(0, 0, 0)).rotated(rotation_x(-math.pi / 2)).moved((0, t / 2, lift + sh / 2)))
    parts.append(box((0.05, 0.03, lift + sh / 3), (0, t / 2 + 0.02, (lift + sh / 3) / 2)))
    if rng.random() < 0.5:
        parts.append(slab(-0.12, 0.12, -0.1, 0.12, 0.0, 0.015))
    else:
        parts.append(frustum(0.12, 0.1, 0.015, 20, center=(0, 0.01, 0)))
    return parts


def toilet(rng) -> list[PolyMesh]:
    """A rounded bowl on a tapered pedestal, a seat ring, a cistern behind; lid up or down."""
    h = rng.uniform(0.38, 0.45)
    rx, ry = rng.uniform(0.17, 0.21), rng.uniform(0.22, 0.28)
    parts = [frustum(0.12, 0.16, h * 0.5, 16),
             ellipsoid((rx, ry, h * 0.35), (0, -0.05, h * 0.7), 2),
             frustum(rx * 1.02, rx * 1.02, 0.03, 24, center=(0, -0.05, h)).scaled((1.0, ry / rx, 1.0))]
    tank_w, tank_d, tank_h = rng.uniform(0.35, 0.5), rng.uniform(0.14, 0.2), rng.uniform(0.3, 0.42)
    y0 = -0.05 + ry * 0.85
    parts.append(slab(-tank_w / 2, tank_w / 2, y0, y0 + tank_d, h * 0.8, h * 0.8 + tank_h))
    if rng.random() < 0.4:
        parts.append(slab(-rx, rx, y0 - 0.03, y0 - 0.01, h, h + 2 * ry * 0.9))
    else:
        parts.append(slab(-rx, rx, -0.05 - ry, y0, h + 0.03, h + 0.05))
    return parts


BUILDERS: dict[str, Builder] = {
    "bathtub": bathtub,
    "bed": bed,
    "bench": bench,
    "bookshelf": bookshelf,
    "chair": chair,
    "desk": desk,
    "dresser": dresser,
    "lamp": lamp,
    "monitor": monitor,
    "sofa": sofa,
    "stool": stool,
    "table": table,
    "toilet": toilet,
}
"""Class name -> builder, 13 classes."""
