"""``data.augment.local_dropout`` and ``noise_points``: what each does to a cloud, the same law on the CPU and
device pipelines, validated and reaching both from the config; ``experiment=robust`` sets them."""
import numpy as np
import pytest
import torch
from scipy import stats

from pointnet.apps.common import data_settings
from pointnet.apps.config import ConfigError, validate
from pointnet.apps.run_data import load_splits
from pointnet.data import Augmentation
from pointnet.data.pipeline import augment as augment_module
from pointnet.data.pipeline.augment import augment_batch
from pointnet.training.device_batches import DeviceBatches
from tests.helpers import compose, tiny_overrides

STILL = dict(rotate=False, jitter_sigma=0.0, scale=None, shift=0.0, shuffle=False)  # nothing else moves a point
CPU = torch.device("cpu")


def cloud(n: int = 200, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Distinct points in a box, normals (if any) of unit length."""
    rng = np.random.default_rng(seed)
    out = rng.uniform(-1, 1, size=(n, channels)).astype(np.float32) * np.float32(0.5)
    if channels == 6:
        out[:, 3:] /= np.linalg.norm(out[:, 3:], axis=1, keepdims=True)
    return out


def cpu_outputs(augment: Augmentation, base: np.ndarray, count: int) -> np.ndarray:
    return np.stack([augment.transform(torch.from_numpy(base.copy()), torch.Generator().manual_seed(s)).numpy()
                     for s in range(count)])


def device_outputs(augment: Augmentation, base: np.ndarray, count: int) -> np.ndarray:
    batch = torch.from_numpy(base).expand(count, -1, -1).clone()
    return augment_batch(batch, augment, torch.Generator().manual_seed(0)).numpy()


def check_local_dropout(before: np.ndarray, after: np.ndarray, max_share: float) -> float:
    """The replaced points are the nearest of one centre, replaced by the point farthest from it; their share."""
    changed = np.flatnonzero((before != after).any(axis=1))
    assert len(changed) <= int(max_share * len(before))
    if len(changed) == 0:
        return 0.0
    assert (after[changed] == after[changed[0]]).all()  # one point copied over them ...
    distance = ((before[:, None, :3] - before[None, changed, :3]) ** 2).sum(axis=2)  # (N, changed)
    kept = np.setdiff1d(np.arange(len(before)), changed)
    centres = [c for k, c in enumerate(changed) if distance[changed, k].max() <= distance[kept, k].min()]
    assert centres  # ... the nearest points of a centre among them ...
    assert any((after[changed[0]] == before[np.argmax(distance[:, k])]).all() for k in range(len(changed))
               if changed[k] in centres)  # ... by the point farthest from it
    return len(changed) / len(before)


@pytest.mark.parametrize("pipeline", [cpu_outputs, device_outputs], ids=["cpu", "device"])
def test_local_dropout_replaces_the_nearest_points_of_a_random_centre(pipeline):
    base = cloud()
    outs = pipeline(Augmentation(**STILL, local_dropout=0.4), base, 200)
    shares = np.array([check_local_dropout(base, out, 0.4) for out in outs])
    assert stats.kstest(shares / 0.4, "uniform").pvalue > 1e-3  # r ~ U[0, 0.4] (floored to whole points)


def ball(cloud_: np.ndarray) -> tuple[np.ndarray, float]:
    """The cloud's bounding ball: its centroid and the distance to its farthest point."""
    centre = cloud_[:, :3].mean(axis=0)
    return centre, float(np.linalg.norm(cloud_[:, :3] - centre, axis=1).max())


def check_noise(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The replaced points lie in the cloud's bounding ball, with unit normals; returns them."""
    changed = (before != after).any(axis=1)
    noise = after[changed]
    centre, radius = ball(before)
    assert (np.linalg.norm(noise[:, :3] - centre, axis=1) <= radius * (1 + 1e-5)).all()
    if before.shape[1] == 6:
        np.testing.assert_allclose(np.linalg.norm(noise[:, 3:], axis=1), 1, rtol=1e-5)
    return noise


@pytest.mark.parametrize("pipeline", [cpu_outputs, device_outputs], ids=["cpu", "device"])
def test_noise_points_replace_a_random_share_by_uniform_points_in_the_ball(pipeline):
    base = cloud(channels=6)
    outs = pipeline(Augmentation(**STILL, noise_points=0.3), base, 200)
    noise = np.concatenate([check_noise(base, out) for out in outs])
    shares = np.array([(base != out).any(axis=1).mean() for out in outs])
    assert shares.max() <= 0.4 and abs(shares.mean() - 0.15) < 0.02  # r ~ U[0, 0.3], each point with prob. r
    centre, radius = ball(base)
    offsets = noise[:, :3] - centre
    distance = np.linalg.norm(offsets, axis=1)
    assert stats.kstest((distance / radius) ** 3, "uniform").pvalue > 1e-3  # uniform in the ball: P(d < x R) = x^3
    for axis in range(3):  # uniform directions: each coordinate of the unit vector ~ U[-1, 1] (Archimedes)
        assert stats.kstest((offsets[:, axis] / distance + 1) / 2, "uniform").pvalue > 1e-3


def test_noise_points_reach_where_modelnet_c_puts_its_outliers():
    """A flat cloud normalised into the unit sphere: its noise fills the unit ball, as add_global's points do, not
    its thin box (the first robust recipe's noise, which left the models as fragile to add_global as the paper's)."""
    g = np.random.default_rng(0)
    flat = np.concatenate([g.uniform(-1, 1, (1024, 2)), g.uniform(-0.05, 0.05, (1024, 1))], axis=1)
    flat = ((flat - flat.mean(axis=0)) / np.linalg.norm(flat - flat.mean(axis=0), axis=1).max()).astype(np.float32)
    outs = cpu_outputs(Augmentation(**STILL, noise_points=0.5), flat, 50)
    noise = np.concatenate([check_noise(flat, out) for out in outs])
    assert (np.abs(noise[:, 2]) > 0.2).mean() > 0.5  # the box holds |z| <= 0.05


def statistics(outs: np.ndarray, base: np.ndarray) -> dict[str, np.ndarray]:
    """Per augmented cloud: the share of points changed and, for the changed ones, their mean distance to
    the cloud's centroid (local parts sit near the surface, noise fills the box)."""
    changed = (outs != base[None]).any(axis=2)  # (K, N)
    distance = np.linalg.norm(outs[..., :3] - base[:, :3].mean(axis=0), axis=2)
    spread = np.array([d[c].mean() if c.any() else 0.0 for d, c in zip(distance, changed)])
    return {"share": changed.mean(axis=1), "spread": spread}


@pytest.mark.parametrize("augment", [Augmentation(**STILL, local_dropout=0.5), Augmentation(**STILL, noise_points=0.2),
                                     Augmentation(**STILL, local_dropout=0.3, noise_points=0.1, point_dropout=0.2)],
                         ids=["local", "noise", "all-three"])
def test_cpu_and_device_pipelines_draw_the_same_law(augment):
    base = cloud(n=128)
    cpu, device = statistics(cpu_outputs(augment, base, 400), base), statistics(device_outputs(augment, base, 400), base)
    for key in cpu:
        assert stats.ks_2samp(cpu[key], device[key]).pvalue > 1e-3, key


def test_the_comparison_sees_a_different_share():
    base = cloud(n=128)
    cpu = statistics(cpu_outputs(Augmentation(**STILL, local_dropout=0.5), base, 400), base)
    device = statistics(device_outputs(Augmentation(**STILL, local_dropout=0.3), base, 400), base)
    assert stats.ks_2samp(cpu["share"], device["share"]).pvalue < 1e-5


def test_off_by_default_and_the_default_draws_are_unchanged():
    assert (Augmentation().local_dropout, Augmentation().noise_points) == (0.0, 0.0)
    assert Augmentation(**STILL, local_dropout=0.1).enabled and Augmentation(**STILL, noise_points=0.1).enabled
    for name in ("local_dropout", "noise_points"):
        with pytest.raises(ValueError, match=name):
            Augmentation(**{name: 1.0})


def test_keys_reach_both_pipelines_from_the_config(tiny_data, monkeypatch):
    calls = []

    def spy(module, name):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda points, share, generator: calls.append((name, share)) or
                            real(points, share, generator))

    for name in ("drop_local_parts", "add_noise_points"):
        spy(augment_module, name)
    cfg = compose(overrides=tiny_overrides(tiny_data, "data.augment.local_dropout=0.6", "data.augment.noise_points=0.3"))
    validate(cfg)
    splits = load_splits(cfg)
    assert splits.train.augment == data_settings(cfg.data).augmentation()
    splits.train[0]
    assert calls == [("drop_local_parts", 0.6), ("add_noise_points", 0.3)]  # the CPU pipeline
    calls.clear()
    DeviceBatches(splits.train, 4, CPU).draw(torch.arange(4), epoch=0, batch=0)
    assert calls == [("drop_local_parts", 0.6), ("add_noise_points", 0.3)]  # the device pipeline


@pytest.mark.parametrize("key", ["local_dropout", "noise_points"])
@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_bad_values_are_refused_naming_the_key(tiny_data, key, value):
    with pytest.raises(ConfigError, match=f"^data.augment.{key}: "):
        validate(compose(overrides=tiny_overrides(tiny_data, f"data.augment.{key}={value}")))


def test_robust_experiment_is_the_paper_recipe_plus_the_robustness_augmentations():
    paper, robust = compose(overrides=["experiment=paper"]), compose(overrides=["experiment=robust"])
    assert data_settings(robust.data).augmentation() == Augmentation(point_dropout=0.875, local_dropout=0.5, noise_points=0.05)
    for group in ("optimizer", "scheduler", "train", "model"):
        assert robust[group] == paper[group]
    assert {k: v for k, v in robust.data.items() if k != "augment"} == \
           {k: v for k, v in paper.data.items() if k != "augment"}
