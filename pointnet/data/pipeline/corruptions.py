"""ModelNet-C's seven corruptions at five severities, applied on the fly to ``(M, N, 3)`` test clouds.

ModelNet-C (Ren, Pan, Liu, "Benchmarking and Analyzing Point Cloud Classification under Corruptions",
ICML 2022; github.com/jiawei-ren/ModelNet-C, ``build_modelnetc/corrupt_utils.py``) corrupts ModelNet40's
1024-point test clouds, centred in the unit sphere as ours are. Severity ``s`` is 1..5 (the source's
``level`` is ``s - 1``); the parameters are the source code's:

=============  ==========================================================================================
kind           what happens at severity s (N = 1024 points)
=============  ==========================================================================================
jitter         Gaussian noise on every coordinate, sigma = 0.01 s (not clipped)
drop_global    a uniformly random (1 - rho) N points are kept, rho = 0.25, 0.375, 0.5, 0.625, 0.75
drop_local     K = 100 s points dropped in C ~ U{1..7} local parts: part i picks a random remaining point
               and drops its K_i nearest remaining points (itself included); the K_i split K multinomially
add_global     10 s points drawn uniformly inside the unit sphere are added
add_local      K = 100 s points added in C ~ U{1..7} clusters around C distinct random points of the cloud:
               cluster i is N(centre_i, sigma_i^2 I), sigma_i ~ U(0.075, 0.125), sizes multinomial; an added
               point p with |p|^2 > 1 becomes p / |p|^2 (the source's way into the unit sphere)
scale          each axis scaled by its own factor ~ U(1/S, S), S = 1.5 + 0.1 s, then the cloud is centred
               and rescaled so its farthest point lies on the unit sphere
rotate         Euler angles a, b, c ~ U(-theta, theta), theta = s pi / 30 (6..30 degrees); points (rows) are
               multiplied by R = Rz(c) Ry(b) Rx(a), as the source's ``np.dot(pointcloud, R)``
=============  ==========================================================================================

Where the source and its paper differ, the code wins: the paper's text gives rho_4 = 0.675 and
C ~ U{1, 8}; ``corrupt_utils.py`` uses 0.625 (the arithmetic step) and ``np.random.randint(1, 8)``
(1..7). Point counts are the source's at N = 1024 and scale with N otherwise (``scaled_count``), so
small test clouds are corrupted in the same proportion.

Every cloud of a call ends with the same number of points (the counts depend only on ``s`` and ``N``),
so a corrupted batch stays one ``(M, N', 3)`` tensor: no padding. ModelNet-C keeps dropped clouds
shorter and so does this module; PointNet's max-pool takes any ``N``. Only xyz: the corruptions are
defined on coordinates (an added point has no normal), so ``corrupt`` refuses other channel counts.
Random numbers come from the ``torch.Generator`` passed in; ``corruption_generator`` seeds one per
``(seed, kind, severity, chunk)``, so a kind's clouds do not depend on which other kinds run.
"""
from __future__ import annotations

import math

import torch

from pointnet.data.pipeline.cloud_dataset import splitmix64

CORRUPTIONS: tuple[str, ...] = ("jitter", "drop_global", "drop_local", "add_global", "add_local", "scale", "rotate")
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
REFERENCE_POINTS = 1024  # ModelNet-C's cloud size, for which its point counts are given
MAX_PARTS = 7  # drop_local / add_local: C ~ U{1..7} (np.random.randint(1, 8))
DROP_RATES = (0.25, 0.375, 0.5, 0.625, 0.75)
_MASK = (1 << 64) - 1


def parse_corruptions(value: str) -> tuple[str, ...]:
    """``eval.corruptions`` as kinds: ``""`` none, ``"all"`` every kind, else a comma list of kinds.

    Raises ``ValueError`` naming an unknown or repeated kind.
    """
    text = str(value).strip()
    if not text:
        return ()
    if text == "all":
        return CORRUPTIONS
    kinds = tuple(part.strip() for part in text.split(","))
    unknown = [k for k in kinds if k not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; choose 'all' or a comma list of {list(CORRUPTIONS)}")
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"corruption listed twice in {text!r}")
    return kinds


def corruption_generator(seed: int, kind: str, severity: int, chunk: int = 0) -> torch.Generator:
    """A CPU generator seeded by a SplitMix64 hash of ``(seed, kind, severity, chunk)``."""
    key = 0
    for word in (seed & _MASK, CORRUPTIONS.index(kind), severity, chunk):
        key = splitmix64(key ^ word)
    return torch.Generator().manual_seed(key)


def scaled_count(reference: int, num_points: int) -> int:
    """ModelNet-C's point count ``reference`` (given for 1024-point clouds) for ``num_points``-point clouds, >= 1."""
    return max(1, round(reference * num_points / REFERENCE_POINTS))


def corrupt(points: torch.Tensor, kind: str, severity: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt ``(M, N, 3)`` float ``points`` by ``kind`` at ``severity`` (1..5): a new ``(M, N', 3)`` tensor.

    ``N'`` is ``N`` for jitter, scale and rotate, smaller after drops and larger after additions.
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"corruptions act on (M, N, 3) xyz clouds, got shape {tuple(points.shape)}")
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {list(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {list(SEVERITIES)}, got {severity!r}")
    return _KINDS[kind](points, severity, generator)


def _rand(generator: torch.Generator | None, like: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=like.device, dtype=like.dtype)


def _randn(generator: torch.Generator | None, like: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, device=like.device, dtype=like.dtype)


def jitter(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Gaussian noise, sigma ``0.01 severity``, on every coordinate."""
    return points + 0.01 * severity * _randn(generator, points, *points.shape)


def drop_global(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Keep a uniformly random ``int(N (1 - rho))`` points of each cloud (in random order)."""
    m, n, _ = points.shape
    keep = max(1, int(n * (1 - DROP_RATES[severity - 1])))
    order = _rand(generator, points, m, n).argsort(dim=1)[:, :keep]  # (M, keep)
    return points.gather(1, order.unsqueeze(2).expand(-1, -1, 3))


def part_assignment(m: int, total: int, generator: torch.Generator | None,
                    like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``m`` clouds: ``C ~ U{1..7}`` parts, and each of ``total`` points' part, uniform over the cloud's ``C``.

    Returns the part of each point ``(M, total)`` int64 and the part sizes ``(M, 7)`` (zero past ``C``):
    ModelNet-C's ``_gen_random_cluster_sizes`` (a multinomial split of ``total``).
    """
    parts = torch.randint(1, MAX_PARTS + 1, (m, 1), generator=generator, device=like.device)
    assignment = (_rand(generator, like, m, total) * parts).long().clamp_(max=MAX_PARTS - 1)
    sizes = torch.zeros(m, MAX_PARTS, dtype=torch.int64, device=like.device)
    sizes.scatter_add_(1, assignment, torch.ones_like(assignment))
    return assignment, sizes


def drop_local(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Drop ``K = 100 severity`` points (scaled to ``N``) as up to 7 local parts around random remaining points."""
    m, n, _ = points.shape
    total = min(scaled_count(100 * severity, n), n - 1)
    _, sizes = part_assignment(m, total, generator, points)
    removed = torch.zeros(m, n, dtype=torch.bool, device=points.device)
    for part in range(MAX_PARTS):
        centre = _rand(generator, points, m, n).masked_fill(removed, -1.0).argmax(dim=1)  # a remaining point
        centre_xyz = points.gather(1, centre.view(m, 1, 1).expand(-1, 1, 3))  # (M, 1, 3)
        distance = ((points - centre_xyz) ** 2).sum(dim=2).masked_fill(removed, math.inf)  # (M, N)
        rank = distance.argsort(dim=1).argsort(dim=1)  # 0 for the centre itself
        removed |= rank < sizes[:, part : part + 1]
    return points[~removed].view(m, n - total, 3)


def inside_unit_sphere(count: int, m: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """``(M, count, 3)`` points uniform in the unit ball: a uniform direction times ``U^(1/3)``."""
    direction = _randn(generator, like, m, count, 3)
    direction = direction / direction.norm(dim=2, keepdim=True).clamp_min(1e-12)
    return direction * _rand(generator, like, m, count, 1).pow(1.0 / 3.0)


def add_global(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Add ``10 severity`` points (scaled to ``N``) uniform inside the unit sphere."""
    m, n, _ = points.shape
    return torch.cat([points, inside_unit_sphere(scaled_count(10 * severity, n), m, generator, points)], dim=1)


def add_local(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Add ``K = 100 severity`` points (scaled to ``N``) as Gaussian clusters around up to 7 random cloud points."""
    m, n, _ = points.shape
    total = scaled_count(100 * severity, n)
    assignment, _ = part_assignment(m, total, generator, points)
    assignment = assignment.clamp(max=n - 1)  # clouds of fewer than 7 points have fewer distinct centres
    centres = _rand(generator, points, m, n).argsort(dim=1)[:, :MAX_PARTS]  # (M, <=7) distinct points
    centre_xyz = points.gather(1, centres.unsqueeze(2).expand(-1, -1, 3))
    sigma = 0.075 + 0.05 * _rand(generator, points, m, centres.shape[1])
    around = centre_xyz.gather(1, assignment.unsqueeze(2).expand(-1, -1, 3))  # (M, total, 3)
    added = around + sigma.gather(1, assignment).unsqueeze(2) * _randn(generator, points, m, total, 3)
    square = (added**2).sum(dim=2, keepdim=True)
    added = torch.where(square > 1, added / square, added)
    return torch.cat([points, added], dim=1)


def scale_factors(severity: int, m: int, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """``(M, 1, 3)`` per-axis factors uniform in ``[1/S, S]``, ``S = 1.5 + 0.1 severity``."""
    top = 1.5 + 0.1 * severity
    return 1.0 / top + (top - 1.0 / top) * _rand(generator, like, m, 1, 3)


def scale(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Scale each axis by its own factor, then centre the cloud and fit it to the unit sphere."""
    scaled = points * scale_factors(severity, len(points), generator, points)
    centred = scaled - scaled.mean(dim=1, keepdim=True)
    return centred / centred.norm(dim=2).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1)


def euler_rotations(angles: torch.Tensor) -> torch.Tensor:
    """``(M, 3)`` angles ``(a, b, c)`` -> ``(M, 3, 3)`` matrices ``Rz(c) Ry(b) Rx(a)``."""
    c, s = torch.cos(angles), torch.sin(angles)
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])
    rx = torch.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], 1).view(-1, 3, 3)
    ry = torch.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], 1).view(-1, 3, 3)
    rz = torch.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], 1).view(-1, 3, 3)
    return rz @ ry @ rx


def rotate(points: torch.Tensor, severity: int, generator: torch.Generator | None) -> torch.Tensor:
    """Rotate by Euler angles uniform in ``[-theta, theta]``, ``theta = severity pi / 30``."""
    theta = severity * math.pi / 30
    angles = theta * (2 * _rand(generator, points, len(points), 3) - 1)
    return points @ euler_rotations(angles)


_KINDS = {"jitter": jitter, "drop_global": drop_global, "drop_local": drop_local, "add_global": add_global,
          "add_local": add_local, "scale": scale, "rotate": rotate}
