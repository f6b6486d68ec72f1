"""ModelNet-C's corruptions: each kind at each severity changes a cloud as its source specifies (counts, noise
magnitude, scale and rotation bounds), deterministically under a seed."""
import math

import pytest
import torch
from scipy import stats

from pointnet.data.pipeline import corruptions as corruptions_module
from pointnet.data.pipeline.corruptions import (
    CORRUPTIONS,
    SEVERITIES,
    corrupt,
    corruption_generator,
    euler_rotations,
    parse_corruptions,
    scaled_count,
)


def clouds(m: int = 8, n: int = 1024, seed: int = 0) -> torch.Tensor:
    """``(m, n, 3)`` anisotropic clouds, centred, fitted to the unit sphere (as the data pipeline makes them)."""
    x = torch.randn(m, n, 3, generator=torch.Generator().manual_seed(seed)) * torch.tensor([0.6, 0.3, 0.2])
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.norm(dim=2).amax(dim=1).view(-1, 1, 1)


def run(points: torch.Tensor, kind: str, severity: int, seed: int = 0) -> torch.Tensor:
    return corrupt(points, kind, severity, corruption_generator(seed, kind, severity))


EXPECTED_POINTS = {  # ModelNet-C's counts at 1024 points, severity s
    "jitter": lambda s: 1024, "scale": lambda s: 1024, "rotate": lambda s: 1024,
    "drop_global": lambda s: int(1024 * (1 - (0.25, 0.375, 0.5, 0.625, 0.75)[s - 1])),
    "drop_local": lambda s: 1024 - 100 * s, "add_global": lambda s: 1024 + 10 * s, "add_local": lambda s: 1024 + 100 * s,
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_each_kind_keeps_adds_or_drops_modelnet_c_counts_at_every_severity(kind):
    base = clouds()
    for severity in SEVERITIES:
        out = run(base, kind, severity)
        assert out.shape == (8, EXPECTED_POINTS[kind](severity), 3) and out.dtype == base.dtype
        assert out.shape != base.shape or not torch.equal(out, base)


def rows(cloud: torch.Tensor) -> set[tuple[float, ...]]:
    return {tuple(p) for p in cloud.tolist()}


@pytest.mark.parametrize("kind", ["drop_global", "drop_local"])
def test_drops_keep_original_points_once_each(kind):
    base = clouds(m=3)
    for severity in SEVERITIES:
        out = run(base, kind, severity)
        for before, after in zip(base, out):
            kept = rows(after)
            assert len(kept) == len(after) and kept <= rows(before)


def test_drop_local_with_one_part_drops_the_nearest_points_of_a_centre(monkeypatch):
    monkeypatch.setattr(corruptions_module, "MAX_PARTS", 1)
    base = clouds(m=4)
    for severity in SEVERITIES:
        out = run(base, "drop_local", severity)
        for before, after in zip(base, out):
            kept = rows(after)
            dropped = torch.tensor([p for p in before.tolist() if tuple(p) not in kept])
            assert len(dropped) == 100 * severity
            nearest_first = [  # some dropped point is a centre that every dropped point is nearer than every kept one
                (torch.cdist(c[None], dropped).max() <= torch.cdist(c[None], after).min()).item() for c in dropped]
            assert any(nearest_first)


@pytest.mark.parametrize("kind", ["add_global", "add_local"])
def test_additions_keep_the_cloud_and_stay_in_the_unit_sphere(kind):
    base = clouds()
    for severity in SEVERITIES:
        out = run(base, kind, severity)
        assert torch.equal(out[:, :1024], base)
        assert out[:, 1024:].norm(dim=2).max() <= 1 + 1e-6


def test_add_global_is_uniform_in_the_unit_ball():
    added = run(clouds(m=200), "add_global", 5)[:, 1024:].reshape(-1, 3)  # 10,000 points
    assert stats.kstest(added.norm(dim=1).pow(3).numpy(), "uniform").pvalue > 1e-3  # P(|p| < r) = r^3
    for axis in range(3):
        assert abs(float(added[:, axis].mean())) < 0.02


def test_add_local_clusters_have_the_sources_spread():
    base = torch.zeros(60, 1024, 3)  # every centre is the origin: an added point is its cluster's noise
    for severity in SEVERITIES:
        added = run(base, "add_local", severity)[:, 1024:]  # (60, 100 s, 3)
        spread = added.std(dim=(1, 2))  # a mix of sigmas ~ U(0.075, 0.125)
        assert spread.min() > 0.06 and spread.max() < 0.14 and abs(float(spread.mean()) - 0.1) < 0.01
    edge = torch.tensor([0.99, 0.0, 0.0]).expand(20, 1024, 3)
    moved = run(edge, "add_local", 5)[:, 1024:].norm(dim=2)
    assert (moved > 0.99).any() and moved.max() <= 1  # points past the sphere are folded back in: p / |p|^2


def test_jitter_adds_gaussian_noise_of_sigma_one_hundredth_per_severity():
    base = clouds(m=20)
    for severity in SEVERITIES:
        noise = run(base, "jitter", severity) - base
        assert float(noise.std()) == pytest.approx(0.01 * severity, rel=0.02)
        assert abs(float(noise.mean())) < 0.001


def axis_factors(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Per axis, the factor mapping the centred ``before`` onto ``after`` (they must be proportional)."""
    centred = before - before.mean(dim=0)
    factors = (centred * after).sum(dim=0) / (centred**2).sum(dim=0)
    torch.testing.assert_close(centred * factors, after, atol=1e-5, rtol=0)
    return factors


def test_scale_draws_per_axis_factors_in_its_range_then_refits_the_unit_sphere():
    base = clouds(m=200)
    for severity in SEVERITIES:
        out = run(base, "scale", severity)
        torch.testing.assert_close(out.mean(dim=1), torch.zeros(200, 3), atol=1e-6, rtol=0)
        torch.testing.assert_close(out.norm(dim=2).amax(dim=1), torch.ones(200))
        top = 1.5 + 0.1 * severity  # factors in [1/S, S]: any two differ at most by S^2
        ratios = torch.stack([axis_factors(b, a) for b, a in zip(base, out)])
        spread = ratios.amax(dim=1) / ratios.amin(dim=1)
        assert spread.max() <= top**2 * (1 + 1e-5) and spread.max() > 0.7 * top**2


def euler_angles(rotation: torch.Tensor) -> torch.Tensor:
    """``(a, b, c)`` with ``rotation = Rz(c) Ry(b) Rx(a)`` (|b| < pi/2)."""
    r = rotation.double()
    return torch.stack([torch.atan2(r[2, 1], r[2, 2]), -torch.asin(r[2, 0]), torch.atan2(r[1, 0], r[0, 0])])


def test_rotate_turns_by_euler_angles_within_severity_times_six_degrees():
    base = clouds(m=100)
    for severity in SEVERITIES:
        out = run(base, "rotate", severity)
        theta = severity * math.pi / 30
        angles = []
        for before, after in zip(base, out):
            matrix = torch.linalg.lstsq(before.double(), after.double()).solution  # after = before @ R
            torch.testing.assert_close(matrix.T @ matrix, torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)
            assert torch.linalg.det(matrix) == pytest.approx(1, abs=1e-5)
            angles.append(euler_angles(matrix))
        angles = torch.stack(angles).abs()
        assert angles.max() <= theta + 1e-5 and (angles.amax(dim=0) > 0.9 * theta).all()


def test_euler_rotations_compose_x_then_y_then_z():
    angles = torch.tensor([[0.3, -0.2, 0.5]])
    matrix = euler_rotations(angles)[0]
    torch.testing.assert_close(euler_angles(matrix).float(), angles[0])


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_a_seed_gives_the_same_clouds_and_another_seed_others(kind):
    base = clouds(m=4)
    torch.testing.assert_close(run(base, kind, 3, seed=7), run(base, kind, 3, seed=7), rtol=0, atol=0)
    assert not torch.equal(run(base, kind, 3, seed=7), run(base, kind, 3, seed=8))


def test_generators_differ_per_kind_severity_and_chunk():
    draws = {(k, s, c): corruption_generator(0, k, s, c).initial_seed() for k in CORRUPTIONS for s in SEVERITIES
             for c in range(3)}
    assert len(set(draws.values())) == len(draws)


def test_small_clouds_get_counts_in_proportion():
    assert [scaled_count(100 * s, 32) for s in SEVERITIES] == [3, 6, 9, 12, 16]
    assert scaled_count(10, 32) == 1  # at least one point
    out = run(clouds(n=32), "drop_local", 5)
    assert out.shape == (8, 16, 3)
    assert run(clouds(n=5), "add_local", 1).shape == (8, 5 + scaled_count(100, 5), 3)  # fewer points than parts


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="xyz"):
        corrupt(torch.zeros(2, 16, 6), "jitter", 1)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(torch.zeros(2, 16, 3), "blur", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(torch.zeros(2, 16, 3), "jitter", 0)


def test_parse_corruptions():
    assert parse_corruptions("") == () and parse_corruptions("all") == CORRUPTIONS
    assert parse_corruptions(" rotate, jitter ") == ("rotate", "jitter")
    with pytest.raises(ValueError, match=r"unknown corruption\(s\) \['jiter'\]"):
        parse_corruptions("jiter,rotate")
    with pytest.raises(ValueError, match="twice"):
        parse_corruptions("rotate,rotate")
    assert len(CORRUPTIONS) == 7
