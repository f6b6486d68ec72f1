"""The device-side batch pipeline draws what the CPU pipeline draws, in distribution (on CPU tensors).

Subsets: every point of a cloud equally likely, no point twice, in uniformly random order.
Augmentation: the per-cloud rotation angle, scale (one factor or one per axis), shift, point dropout,
mirror and the jitter, compared with the CPU
``PointCloudDataset`` by two-sample Kolmogorov-Smirnov tests on statistics that isolate each of
them (fixed seeds: the p-values are fixed numbers, not flaky); one test shows each statistic
notices when its operation changes. Order, resume and shards follow ``EpochBatchSampler``.
"""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from pointnet.data.pipeline.augment import Augmentation, augment_batch, rotations_about_z
from pointnet.data.pipeline.cloud_dataset import PointCloudDataset
from pointnet.data.pointset import PointSet
from pointnet.training.device_batches import DeviceBatches, use_device_batches

CPU = torch.device("cpu")


def point_set(points: np.ndarray) -> PointSet:
    m = len(points)
    return PointSet(points.astype(np.float32), np.arange(m) % 3, ["a", "b", "c"], [f"s{i}" for i in range(m)])


def numbered_clouds(m: int, p: int) -> np.ndarray:
    """Cloud ``i``'s point ``j`` is ``(100 i + j, 0, 0)``: every drawn point says where it came from."""
    ids = 100 * np.arange(m)[:, None] + np.arange(p)[None, :]
    return np.stack([ids, np.zeros_like(ids), np.zeros_like(ids)], axis=2).astype(np.float64)


def test_subsets_are_uniform_without_replacement_in_random_order():
    m, p, n = 4, 16, 6
    data = DeviceBatches(PointCloudDataset(point_set(numbered_clouds(m, p)), n, train=True), 2, CPU)
    counts, first = np.zeros((m, p)), np.zeros(p)
    for epoch in range(300):
        data.batch_sampler.set_epoch(epoch)
        for points, labels in data:
            ids = points[..., 0].numpy().astype(int)  # (B, N)
            cloud = ids // 100
            assert (cloud == cloud[:, :1]).all()  # every point from one cloud ...
            assert (labels.numpy() == cloud[:, 0] % 3).all()  # ... whose label comes with it
            for row in ids % 100:
                assert len(set(row)) == n  # no point twice
            np.add.at(counts, (cloud, ids % 100), 1)
            np.add.at(first, ids[:, 0] % 100, 1)
    assert (counts.sum(axis=1) == 300 * n).all()  # every cloud once an epoch
    for row in counts:
        assert stats.chisquare(row).pvalue > 1e-3
    assert stats.chisquare(first).pvalue > 1e-3  # the first slot holds any point equally often


@pytest.mark.parametrize("n", [4, 6])
def test_short_shapes_give_their_own_points_once_then_repeats(n):
    clouds = numbered_clouds(3, 6)
    clouds[1] = clouds[1][np.arange(6) % 3]  # shape 1 has 3 points, its rows repeat them as the cache does
    points = PointSet(clouds.astype(np.float32), np.arange(3) % 3, ["a", "b", "c"], ["s0", "s1", "s2"],
                      counts=np.array([6, 3, 6]))
    data = DeviceBatches(PointCloudDataset(points, n, train=True), 3, CPU)
    for epoch in range(30):
        data.batch_sampler.set_epoch(epoch)
        for batch, labels in data:
            for row, label in zip(batch[..., 0].numpy().astype(int) % 100, labels.tolist()):
                if label == 1:
                    assert sorted(row[:3]) == [0, 1, 2] and set(row[3:]) <= {0, 1, 2}
                else:
                    assert len(set(row)) == n


def anisotropic_cloud(points: int = 64) -> np.ndarray:
    """One cloud spread along x (so its principal axis shows the rotation), centred off the origin."""
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(points, 3)) * [0.5, 0.1, 0.2] + [0.0, 0.0, 0.3]
    return xyz[None]


def statistics(points: torch.Tensor, base: np.ndarray) -> dict[str, np.ndarray]:
    """Per cloud: principal angle mod pi (rotation), spread (scale), z's share of the spread (a scale per
    axis), centroid shift (shift), the share of points equal to the first (point dropout) and the
    residual after the best similarity fit (jitter)."""
    x = points.double().numpy()  # (K, N, 3)
    centred = x - x.mean(axis=1, keepdims=True)
    cov = np.einsum("kni,knj->kij", centred[..., :2], centred[..., :2])
    angle = 0.5 * np.arctan2(2 * cov[:, 0, 1], cov[:, 0, 0] - cov[:, 1, 1]) % math.pi
    base_centred = base[0] - base[0].mean(axis=0)
    spread = np.sqrt((centred**2).sum(axis=(1, 2)) / (base_centred**2).sum())
    z_sorted = np.sort(centred[..., 2], axis=1) / spread[:, None]  # z is untouched by the rotation
    residual = (z_sorted - np.sort(base_centred[:, 2])[None]).std(axis=1)
    return {"angle": angle, "spread": spread, "shift_z": x[..., 2].mean(axis=1) - spread * base[0, :, 2].mean(),
            "jitter": residual, "z_share": centred[..., 2].std(axis=1) / spread,
            "duplicates": (x == x[:, :1]).all(axis=2).mean(axis=1)}


def cpu_draws(dataset: PointCloudDataset, count: int) -> torch.Tensor:
    out = []
    for epoch in range(count):
        dataset.set_epoch(epoch)
        out.append(dataset[0][0])
    return torch.stack(out)


def device_draws(dataset: PointCloudDataset, count: int, batch: int = 25) -> torch.Tensor:
    """``count`` draws of cloud 0 through ``DeviceBatches`` (the batch holds copies of the one cloud)."""
    data = DeviceBatches(dataset, batch, CPU)
    index = torch.zeros(batch, dtype=torch.int64)
    return torch.cat([data.draw(index, epoch=0, batch=b)[0] for b in range(count // batch)])


def compare(a: torch.Tensor, b: torch.Tensor, base: np.ndarray) -> dict[str, float]:
    sa, sb = statistics(a, base), statistics(b, base)
    return {k: stats.ks_2samp(sa[k], sb[k]).pvalue for k in sa}


MODERN = Augmentation(rotate=False, jitter_sigma=0.0, anisotropic=True, point_dropout=0.5)  # experiment=modern's kind


@pytest.mark.parametrize("augment", [Augmentation(), Augmentation(rotate=False, shift=0.3, jitter_sigma=0.03), MODERN,
                                     Augmentation(anisotropic=True, point_dropout=0.3)],
                         ids=["default", "no-rotation", "anisotropic-dropout", "all"])
def test_augmentation_has_the_cpu_pipelines_distribution(augment):
    base = anisotropic_cloud()
    dataset = PointCloudDataset(point_set(base), 64, train=True, augment=augment, seed=3)
    p_values = compare(cpu_draws(dataset, 400), device_draws(dataset, 400), base)
    assert min(p_values.values()) > 1e-3, p_values


@pytest.mark.parametrize("changed, statistic", [
    (Augmentation(scale=(0.9, 1.4)), "spread"), (Augmentation(rotate=False), "angle"),
    (Augmentation(jitter_sigma=0.02), "jitter"), (Augmentation(shift=0.15), "shift_z"),
    (Augmentation(anisotropic=True), "z_share"), (Augmentation(jitter_sigma=0.0, point_dropout=0.5), "duplicates"),
])
def test_the_comparison_sees_each_changed_operation(changed, statistic):
    base = anisotropic_cloud()
    cpu = PointCloudDataset(point_set(base), 64, train=True, augment=Augmentation(), seed=3)
    other = PointCloudDataset(point_set(base), 64, train=True, augment=changed, seed=3)
    assert compare(cpu_draws(cpu, 400), device_draws(other, 400), base)[statistic] < 1e-5


def skewed_cloud(points: int = 64) -> np.ndarray:
    """One cloud skewed along x and y (a mirror flips the sign of the skew) and spread along z."""
    rng = np.random.default_rng(0)
    xyz = np.column_stack([rng.exponential(0.3, points), -rng.exponential(0.2, points), rng.normal(0, 0.4, points)])
    return xyz[None]


def skews(points: torch.Tensor) -> dict[str, np.ndarray]:
    """Per cloud and axis, the sign of the third central moment: it flips where that axis came out mirrored."""
    x = points.double().numpy()
    centred = x - x.mean(axis=1, keepdims=True)
    third = (centred**3).mean(axis=1)  # (K, 3)
    return {"skew_x": np.sign(third[:, 0]), "skew_y": np.sign(third[:, 1]), "skew_z": np.sign(third[:, 2])}


MIRROR = Augmentation(rotate=False, jitter_sigma=0.0, anisotropic=True, mirror=(0, 1))


def test_mirror_has_the_cpu_pipelines_distribution():
    base = skewed_cloud()
    dataset = PointCloudDataset(point_set(base), 64, train=True, augment=MIRROR, seed=3)
    cpu, device = skews(cpu_draws(dataset, 400)), skews(device_draws(dataset, 400))
    for axis, flipped in (("skew_x", True), ("skew_y", True), ("skew_z", False)):
        base_sign = np.sign(((base[0] - base[0].mean(axis=0)) ** 3).mean(axis=0))["xyz".index(axis[-1])]
        for draws in (cpu, device):
            share = (draws[axis] != base_sign).mean()  # how often this axis came out mirrored
            assert (abs(share - 0.5) < 0.1) if flipped else share == 0, (axis, share)
    both = [((d["skew_x"] < 0) & (d["skew_y"] > 0)).mean() for d in (cpu, device)]  # base: x > 0, y < 0 skew
    assert all(abs(b - 0.25) < 0.08 for b in both), both  # the two axes flip independently
    assert min(compare(cpu_draws(dataset, 400), device_draws(dataset, 400), base).values()) > 1e-3


def test_mirror_turns_normals_with_the_points():
    rng = np.random.default_rng(3)
    xyz = rng.normal(size=(32, 16, 3))
    points = torch.from_numpy(np.concatenate([xyz, xyz / np.linalg.norm(xyz, axis=2, keepdims=True)], axis=2))
    augment = Augmentation(rotate=False, jitter_sigma=0.0, scale=None, shift=0.0, mirror=(1,))
    out = augment_batch(points, augment, torch.Generator().manual_seed(0))
    signs = torch.sign(out[:, :, 1] / points[:, :, 1])  # (B, N): one sign per cloud
    assert (signs == signs[:, :1]).all() and 0 < (signs[:, 0] < 0).sum() < 32
    expected = points.clone()
    expected[..., [1, 4]] *= signs.unsqueeze(2)
    torch.testing.assert_close(out, expected)


def test_rotation_only_keeps_z_norms_and_normal_angles():
    rng = np.random.default_rng(1)
    xyz, normals = rng.normal(size=(8, 32, 3)), rng.normal(size=(8, 32, 3))
    points = torch.from_numpy(np.concatenate([xyz, normals], axis=2))
    out = augment_batch(points, Augmentation(rotate=True, jitter_sigma=0.0, scale=None, shift=0.0),
                        torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[..., 2], points[..., 2])  # about z
    torch.testing.assert_close(out[..., :3].norm(dim=2), points[..., :3].norm(dim=2))
    torch.testing.assert_close((out[..., :3] * out[..., 3:]).sum(2), (points[..., :3] * points[..., 3:]).sum(2))
    assert not torch.allclose(out[..., :2], points[..., :2])


def test_anisotropic_scale_keeps_normals_normal_to_their_plane():
    """Points on the plane n.x = 0 stay on a plane under M = S R; its normal is M^-T n, of unit length."""
    rng = np.random.default_rng(2)
    normal = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    xyz = rng.normal(size=(16, 64, 3))
    xyz -= (xyz @ normal)[..., None] * normal  # onto the plane through 0
    points = torch.from_numpy(np.concatenate([xyz, np.broadcast_to(normal, xyz.shape)], axis=2))
    augment = Augmentation(rotate=True, jitter_sigma=0.0, scale=(0.5, 2.0), shift=0.0, anisotropic=True)
    out = augment_batch(points, augment, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[..., 3:].norm(dim=2), torch.ones(16, 64, dtype=torch.float64))
    assert (out[..., :3] * out[..., 3:]).sum(2).abs().max() < 1e-12  # the new normal is normal to the new plane
    turned = torch.from_numpy(np.broadcast_to(normal, (16, 3)).copy())
    assert (out[:, 0, 3:] - turned).norm(dim=1).min() > 1e-3  # and it did turn, differently per cloud
    assert out[:, 0, 3:].std(dim=0).min() > 1e-2


def test_point_dropout_replaces_points_by_the_first_at_the_drawn_ratio():
    points = torch.from_numpy(numbered_clouds(400, 100))
    augment = Augmentation(rotate=False, jitter_sigma=0.0, scale=None, shift=0.0, point_dropout=0.8)
    out = augment_batch(points, augment, torch.Generator().manual_seed(0))
    ids = out[..., 0].numpy().astype(int)
    assert (ids[:, 0] == points[:, 0, 0].numpy()).all() and (ids // 100 == np.arange(400)[:, None]).all()
    kept = ids != ids[:, :1]
    share = 1.0 - (kept.sum(axis=1) + 1) / 100  # the dropped share of each cloud: ~ U[0, 0.8], binomially blurred
    assert stats.kstest(share, stats.uniform(0, 0.8).cdf).pvalue > 1e-3


EVERY_OPERATION = Augmentation(rotate=True, jitter_sigma=0.02, scale=(0.7, 1.3), shift=0.2, shuffle=False,
                               anisotropic=True, point_dropout=0.3, mirror=(0, 1), local_dropout=0.4, noise_points=0.2)


@pytest.mark.parametrize("channels", [3, 6])
def test_cpu_and_device_paths_make_identical_clouds_from_the_same_generator_state(channels):
    """One implementation: a cloud augmented by the CPU pipeline (``Augmentation.transform``, a batch of one)
    is, bit for bit, the device pipeline's ``augment_batch`` of that cloud from the same generator state."""
    cloud = torch.from_numpy(numbered_clouds(1, 300)[0, :, :3].astype(np.float32) / 300)
    if channels == 6:
        cloud = torch.cat([cloud, torch.nn.functional.normalize(torch.randn(300, 3), dim=1)], dim=1)
    for seed in range(4):
        cpu = EVERY_OPERATION.transform(cloud.clone(), torch.Generator().manual_seed(seed))
        device = augment_batch(cloud.unsqueeze(0), EVERY_OPERATION, torch.Generator().manual_seed(seed))[0]
        assert torch.equal(cpu, device)
        assert not torch.equal(cpu, cloud)  # the operations did move points
    dataset = PointCloudDataset(point_set(numbered_clouds(3, 40)), 32, train=True, augment=EVERY_OPERATION, seed=2)
    points, _ = dataset[1]  # the dataset's draw, then the same code on a batch of one
    generator = dataset.generator(1)
    rows = np.sort(torch.randperm(40, generator=generator)[:32].numpy())
    drawn = torch.from_numpy(numbered_clouds(3, 40)[1][rows].astype(np.float32))
    assert torch.equal(points, augment_batch(drawn.unsqueeze(0), EVERY_OPERATION, generator)[0])


def test_rotation_matrices_turn_x_towards_y_about_z():
    angles = torch.tensor([0.0, 0.3, 2.0, -1.1], dtype=torch.float64)
    expected = torch.tensor([[[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]]
                             for a in angles.tolist()], dtype=torch.float64)
    torch.testing.assert_close(rotations_about_z(angles), expected, rtol=0, atol=1e-15)
    assert torch.allclose(rotations_about_z(torch.tensor([math.pi / 2]))[0] @ torch.tensor([1.0, 0.0, 0.0]),
                          torch.tensor([0.0, 1.0, 0.0]), atol=1e-7)  # right-handed


def test_resume_skips_done_batches_and_sees_the_same_ones():
    dataset = PointCloudDataset(point_set(numbered_clouds(10, 16)), 8, train=True, augment=Augmentation(), seed=5)
    data = DeviceBatches(dataset, 3, CPU)
    data.batch_sampler.set_epoch(2)
    full = list(data)
    data.batch_sampler.set_epoch(2, skip=1)
    resumed = list(data)
    assert len(full) == 3 and len(resumed) == 2
    for (p1, l1), (p2, l2) in zip(full[1:], resumed):
        assert torch.equal(p1, p2) and torch.equal(l1, l2)
    data.batch_sampler.set_epoch(3)
    assert not torch.equal(list(data)[0][0], full[0][0])  # another epoch, other draws


def test_ranks_take_disjoint_shards():
    dataset = PointCloudDataset(point_set(numbered_clouds(12, 8)), 4, train=True, seed=0)
    clouds = []
    for rank in (0, 1):
        data = DeviceBatches(dataset, 3, CPU, num_replicas=2, rank=rank)
        data.batch_sampler.set_epoch(0)
        clouds.append({int(c) for points, _ in data for c in points[:, 0, 0] // 100})
    assert not clouds[0] & clouds[1] and len(clouds[0] | clouds[1]) == 12


def test_use_device_batches_defaults_to_gpus_without_workers():
    assert use_device_batches(None, torch.device("cuda"), 0)
    assert not use_device_batches(None, torch.device("cuda"), 2)
    assert not use_device_batches(None, CPU, 0)
    assert use_device_batches(True, CPU, 0) and not use_device_batches(False, torch.device("cuda"), 0)
