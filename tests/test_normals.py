"""Normals as input: augmentation on known vectors, the 6-channel model, a run that feeds and records them."""
import math

import numpy as np
import pytest
import torch

from pointnet import PointNet
from pointnet.apps.evaluate import evaluate_checkpoint
from pointnet.apps.train import train
from pointnet.data import Augmentation, PointCloudDataset, PointSet
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.evaluation import rotate_about_z
from tests.helpers import compose, tiny_overrides

STILL = dict(rotate=False, jitter_sigma=0.0, scale=None, shift=0.0, shuffle=False)


def plane_cloud(n=300, seed=0) -> np.ndarray:
    """``(n, 6)`` points on the plane x + y + z = 1 with its unit normal (1, 1, 1) / sqrt(3)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, size=(n, 2))
    points = np.column_stack([xy, 1.0 - xy.sum(axis=1)])
    return np.column_stack([points, np.full((n, 3), 1 / math.sqrt(3))]).astype(np.float32)


def test_rotation_turns_normals_like_points():
    cloud = plane_cloud()
    cloud[:, :3] = cloud[:, 3:]  # points equal to their normals: both must come out equal
    out = Augmentation(**{**STILL, "rotate": True})(cloud.copy(), torch.Generator().manual_seed(3))
    np.testing.assert_allclose(out[:, 3:], out[:, :3], atol=1e-6)
    np.testing.assert_allclose(out[:, 5], cloud[:, 5], atol=1e-6)  # about z: the z part stays
    assert np.abs(out[:, 3] - cloud[:, 3]).max() > 1e-3


@pytest.mark.parametrize("rotate", [False, True])
def test_anisotropic_scale_maps_normals_by_the_inverse_transpose(rotate):
    cloud = plane_cloud()
    aug = Augmentation(**{**STILL, "rotate": rotate, "scale": (0.5, 2.0), "anisotropic": True})
    out = aug(cloud.copy(), torch.Generator().manual_seed(7))
    np.testing.assert_allclose(np.linalg.norm(out[:, 3:], axis=1), 1.0, atol=1e-6)  # renormalised
    tangents = out[1:, :3] - out[0, :3]  # vectors within the transformed plane
    assert np.abs(tangents @ out[0, 3:]).max() < 1e-5  # the normal is still perpendicular to the surface
    if not rotate:
        factors = out[:, :3] / cloud[:, :3]
        assert np.ptp(factors, axis=0).max() < 1e-4 and np.ptp(factors[0]) > 1e-2  # per axis, not one factor
        expected = 1 / factors[0] / np.linalg.norm(1 / factors[0])  # S^-1 n, n ~ (1, 1, 1)
        np.testing.assert_allclose(out[0, 3:], expected, atol=1e-5)


def test_mirror_negates_its_axes_in_points_and_normals_and_keeps_them_normal():
    cloud = plane_cloud()
    generator = torch.Generator().manual_seed(5)
    outs = [Augmentation(**{**STILL, "mirror": (0, 2)})(cloud.copy(), generator) for _ in range(40)]
    signs = {tuple(np.sign(out[0, 3:] / cloud[0, 3:]).astype(int)) for out in outs}
    assert signs == {(1, 1, 1), (-1, 1, 1), (1, 1, -1), (-1, 1, -1)}  # x and z flip independently, y never
    for out in outs:
        flip = np.sign(out[0, 3:] / cloud[0, 3:])
        np.testing.assert_allclose(out, cloud * np.tile(flip, 2), atol=1e-6)  # points and normals alike
    aug = Augmentation(**{**STILL, "rotate": True, "scale": (0.5, 2.0), "anisotropic": True, "mirror": (0, 1)})
    out = aug(cloud.copy(), torch.Generator().manual_seed(7))
    np.testing.assert_allclose(np.linalg.norm(out[:, 3:], axis=1), 1.0, atol=1e-6)
    assert np.abs((out[1:, :3] - out[0, :3]) @ out[0, 3:]).max() < 1e-5  # M^-T n with M = S R F
    with pytest.raises(ValueError, match="mirror"):
        Augmentation(mirror=(0, 0))


def test_isotropic_scale_shift_and_jitter_leave_normals_alone():
    cloud = plane_cloud()
    aug = Augmentation(rotate=False, jitter_sigma=0.02, jitter_clip=0.05, scale=(0.8, 1.25), shift=0.1, shuffle=False)
    out = aug(cloud.copy(), torch.Generator().manual_seed(1))
    np.testing.assert_allclose(out[:, 3:], cloud[:, 3:], atol=1e-6)
    assert np.abs(out[:, :3] - cloud[:, :3]).max() > 1e-2


def test_point_dropout_replaces_points_by_the_first():
    cloud = plane_cloud(1000)
    out = Augmentation(**{**STILL, "point_dropout": 0.875})(cloud.copy(), torch.Generator().manual_seed(2))
    dropped = (out != cloud).any(axis=1)
    assert 0 < dropped.sum() < 875 and (out[dropped] == cloud[0]).all()
    with pytest.raises(ValueError, match="point_dropout"):
        Augmentation(point_dropout=1.0)


def test_shuffle_false_keeps_the_cached_order():
    dense = np.arange(64 * 3, dtype=np.float32).reshape(1, 64, 3)
    point_set = PointSet(dense, np.array([0]), ["a"], ["f"])
    for shuffle, ordered in ((False, True), (True, False)):
        item, _ = PointCloudDataset(point_set, 16, train=True, augment=Augmentation(**{**STILL, "shuffle": shuffle}))[0]
        index = item[:, 0].numpy() / 3
        assert (np.diff(index) > 0).all() == ordered


def test_model_input_transform_sees_xyz_and_turns_the_normals():
    model = PointNet(5, in_channels=6).double().eval()
    angle = 0.7
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]],
                            dtype=torch.float64)
    with torch.no_grad():
        model.input_tnet.out.bias.copy_(rotation.flatten())  # weight is zero: the T-Net outputs `rotation`
    points = torch.randn(2, 50, 6, dtype=torch.float64)
    aligned = model.align_input(points)
    torch.testing.assert_close(aligned, torch.cat([points[..., :3] @ rotation, points[..., 3:] @ rotation], -1))
    changed = points.clone()
    changed[..., 3:] = torch.randn(2, 50, 3, dtype=torch.float64)
    torch.testing.assert_close(model.input_tnet(changed[..., :3]), model.input_tnet(points[..., :3]))
    assert model.mlp1.layers[0].fc.weight.shape[1] == 6
    with pytest.raises(ValueError, match=r"\(B, N, 6\)"):
        model(points[..., :3])
    with pytest.raises(ValueError, match="in_channels"):
        PointNet(5, in_channels=4)


def test_voting_rotation_turns_normals():
    points = torch.tensor([[[1.0, 0.0, 0.5, 1.0, 0.0, 0.0]]])
    torch.testing.assert_close(rotate_about_z(points, math.pi / 2), torch.tensor([[[0.0, 1.0, 0.5, 0.0, 1.0, 0.0]]]))


def test_a_run_with_normals_feeds_six_channels_records_them_and_evaluates(tiny_data, tmp_path):
    out = tmp_path / "outputs" / "day" / "normals"
    out.mkdir(parents=True)
    metrics = train(compose(overrides=tiny_overrides(tiny_data, "data.normals=true")), run_dir=out)
    assert 0 <= metrics["test/acc"] <= 1
    state = load_checkpoint(out / "best.pt")
    assert state["model_args"]["in_channels"] == 6
    assert state["model"]["mlp1.layers.0.fc.weight"].shape[1] == 6
    cfg = compose("eval", [f"checkpoint={out / 'best.pt'}", "eval.votes=3", "eval.critical_points=1"])
    result = evaluate_checkpoint(cfg, tmp_path, [])
    assert result["shapes"] > 0 and 0 <= result["acc"] <= 1
    assert list(tmp_path.glob("critical_points_*.png"))
