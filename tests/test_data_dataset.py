"""PointSet, PointCloudDataset and Augmentation: per-epoch draws, fixed eval draws, augmentation rules."""
import math
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pointnet.data import Augmentation, PointCloudDataset, PointSet


@pytest.fixture
def point_set() -> PointSet:
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.5, 0.5, size=(6, 64, 6)).astype(np.float32)
    points[..., 3:] = [0.0, 1.0, 0.0]
    return PointSet(points, np.array([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], [f"f{i}" for i in range(6)],
                    [("bad.off", "no faces")], name="toy/train")


def test_point_set_subset_len_and_summary(point_set):
    part = point_set.subset([4, 1])
    assert len(part) == 2 and part.files == ["f4", "f1"] and part.labels.tolist() == [1, 1]
    np.testing.assert_array_equal(part.points[0], point_set.points[4])
    summary = point_set.summary()
    assert "toy/train: 6 shapes (64x6 each) in 3 classes, 1 skipped" in summary
    assert "bad.off: no faces" in summary
    assert point_set.class_counts() == {"a": 2, "b": 2, "c": 2}


def test_item_shapes_and_types(point_set):
    points, label = PointCloudDataset(point_set, 16, train=True)[1]
    assert points.shape == (16, 3) and points.dtype == torch.float32
    assert label.dtype == torch.int64 and label.shape == () and int(label) == 1
    with_normals, _ = PointCloudDataset(point_set, 16, train=False, normals=True)[1]
    assert with_normals.shape == (16, 6)


def test_item_is_a_subset_of_the_dense_points(point_set):
    points, _ = PointCloudDataset(point_set, 20, train=True, seed=3)[2]
    dense = {tuple(row) for row in point_set.points[2, :, :3].tolist()}
    rows = [tuple(row) for row in points.tolist()]
    assert set(rows) <= dense and len(set(rows)) == 20


def test_train_draws_depend_only_on_seed_epoch_index(point_set):
    a = PointCloudDataset(point_set, 16, train=True, seed=7)
    b = PointCloudDataset(point_set, 16, train=True, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    first = [a[i][0] for i in range(6)]
    second = [b[i][0] for i in reversed(range(6))][::-1]  # another access order
    for x, y in zip(first, second):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    b.set_epoch(4)
    assert not torch.equal(a[0][0], b[0][0])  # a new draw each epoch
    other_seed = PointCloudDataset(point_set, 16, train=True, seed=8)
    other_seed.set_epoch(3)
    assert not torch.equal(a[0][0], other_seed[0][0])


def test_eval_draw_is_fixed_across_epochs_and_unaugmented(point_set):
    augment = Augmentation(jitter_sigma=0.5, jitter_clip=1.0, shift=1.0)
    ds = PointCloudDataset(point_set, 16, train=False, augment=augment, seed=1)
    assert ds.augment is None
    first = ds[0][0]
    ds.set_epoch(10)
    torch.testing.assert_close(ds[0][0], first, rtol=0, atol=0)
    dense = {tuple(row) for row in point_set.points[0, :, :3].tolist()}
    assert {tuple(row) for row in first.tolist()} <= dense  # untouched points


def test_training_augments(point_set):
    plain = PointCloudDataset(point_set, 16, train=True, seed=2)
    augmented = PointCloudDataset(point_set, 16, train=True, seed=2, augment=Augmentation())
    assert not torch.equal(plain[0][0], augmented[0][0])
    assert torch.equal(augmented[0][0], augmented[0][0])  # still deterministic


def test_all_items_every_epoch_through_a_dataloader(point_set):
    ds = PointCloudDataset(point_set, 16, train=False)
    batches = list(DataLoader(ds, batch_size=4, shuffle=False, num_workers=0))
    assert [len(labels) for _, labels in batches] == [4, 2]  # no shape dropped
    assert batches[0][0].shape == (4, 16, 3)


def test_pickled_copy_draws_the_same(point_set):
    ds = PointCloudDataset(point_set, 16, train=True, augment=Augmentation(), seed=4)
    ds.set_epoch(2)
    clone = pickle.loads(pickle.dumps(ds))
    torch.testing.assert_close(clone[3][0], ds[3][0], rtol=0, atol=0)


def test_num_points_bounds(point_set):
    with pytest.raises(ValueError, match="num_points"):
        PointCloudDataset(point_set, 0, train=True)
    no_normals = point_set.subset(range(6))
    no_normals.points = no_normals.points[..., :3]
    with pytest.raises(ValueError, match="normals"):
        PointCloudDataset(no_normals, 8, train=True, normals=True)


def cloud(n=200, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 3)).astype(np.float32))


def test_rotation_is_about_z_only():
    points = cloud()
    out = Augmentation(rotate=True, jitter_sigma=0, scale=None, shift=0, shuffle=False)(points.clone(),
                                                                                          torch.Generator().manual_seed(1))
    torch.testing.assert_close(out[:, 2], points[:, 2])
    torch.testing.assert_close(out[:, :2].norm(dim=1), points[:, :2].norm(dim=1))
    assert not torch.allclose(out[:, :2], points[:, :2])


def test_scale_shift_jitter_and_shuffle_each_on_their_own():
    points, g = cloud(), torch.Generator()
    scaled = Augmentation(rotate=False, jitter_sigma=0, scale=(0.8, 1.25), shift=0, shuffle=False)
    out = scaled(points.clone(), g.manual_seed(2))
    ratio = out / points
    assert 0.8 <= float(ratio[0, 0]) <= 1.25 and torch.allclose(ratio, ratio[0, 0])
    shifted = Augmentation(rotate=False, jitter_sigma=0, scale=None, shift=0.1, shuffle=False)(points.clone(), g)
    delta = shifted - points
    assert torch.allclose(delta, delta[0].expand_as(delta), atol=1e-6) and delta.abs().max() <= 0.1
    jittered = Augmentation(rotate=False, jitter_sigma=0.01, jitter_clip=0.02, scale=None, shift=0,
                            shuffle=False)(points.clone(), g)
    noise = jittered - points
    assert 0.005 < float(noise.std()) < 0.015 and float(noise.abs().max()) <= 0.02 + 1e-6
    shuffled = Augmentation(rotate=False, jitter_sigma=0, scale=None, shift=0, shuffle=True)(points.clone(), g)
    assert not torch.equal(shuffled, points)
    assert sorted(map(tuple, shuffled.tolist())) == sorted(map(tuple, points.tolist()))


def test_off_is_the_identity_and_normals_rotate_with_points():
    points = cloud()
    assert not Augmentation.off().enabled
    torch.testing.assert_close(Augmentation.off()(points.clone()), points)
    with_normals = torch.cat([points, torch.tensor([[1.0, 0.0, 0.0]]).expand(200, 3)], dim=1)
    out = Augmentation(rotate=True, jitter_sigma=0.01, scale=(2.0, 2.0), shift=0.1, shuffle=False)(
        with_normals.clone(), torch.Generator().manual_seed(5))
    torch.testing.assert_close(out[:, 3:].norm(dim=1), torch.ones(200))  # rotated, not scaled
    angle = math.atan2(float(out[0, 4]), float(out[0, 3]))
    assert abs(angle) > 1e-3


def test_configuration_validation():
    with pytest.raises(ValueError, match="scale"):
        Augmentation(scale=(1.25, 0.8))
    with pytest.raises(ValueError, match="jitter_sigma"):
        Augmentation(jitter_sigma=-1)
    assert Augmentation(scale=[0.9, 1.1]).scale == (0.9, 1.1)


def short_point_set() -> PointSet:
    """Shapes of 12, 5 and 12 points in 12 rows; shape 1's rows past 5 repeat its points cyclically
    (as the cache stores them). Point ``j`` of shape ``i`` is ``(i, j, 0)``: a draw says where it came from."""
    ids = np.arange(12)[None, :].repeat(3, axis=0)
    ids[1] = np.arange(12) % 5
    points = np.stack([np.arange(3)[:, None].repeat(12, axis=1), ids, np.zeros_like(ids)], axis=2)
    return PointSet(points.astype(np.float32), np.array([0, 1, 0]), ["a", "b"], ["s0", "s1", "s2"],
                    name="short", counts=np.array([12, 5, 12]))


@pytest.mark.parametrize("train", [True, False])
def test_a_short_shape_gives_every_point_once_then_repeats_its_own(train):
    dataset = PointCloudDataset(short_point_set(), 8, train=train)
    for epoch in range(20):
        dataset.set_epoch(epoch)
        full = dataset[0][0][:, 1].numpy().astype(int)
        assert len(set(full)) == 8  # a full shape: 8 distinct of its 12 points
        short = dataset[1][0][:, 1].numpy().astype(int)
        assert sorted(set(short[:5])) == [0, 1, 2, 3, 4]  # all 5 points once, first
        assert set(short[5:]) <= {0, 1, 2, 3, 4}  # then repeats of its own points


def test_clouds_of_all_the_points_are_the_shapes_own_points():
    dataset = PointCloudDataset(short_point_set(), 12, train=False)
    assert sorted(dataset[0][0][:, 1].numpy().astype(int)) == list(range(12))  # each point exactly once


def test_short_shapes_are_counted_in_one_warning(caplog):
    from pointnet.data.pipeline.cloud_dataset import warn_short_shapes
    with caplog.at_level("WARNING", logger="pointnet.data"):
        assert warn_short_shapes([short_point_set(), short_point_set()], 8) == 2
        assert warn_short_shapes([short_point_set()], 5) == 0
    assert len(caplog.records) == 1
    assert "2 of 6 shapes (short, short) have fewer than data.num_points=8 points (fewest 5)" in caplog.text


def test_counts_are_checked_and_carried_by_subsets():
    part = short_point_set().subset([1, 2])
    assert part.counts.tolist() == [5, 12]
    assert short_point_set().subset([0]).counts.tolist() == [12]
    with pytest.raises(ValueError, match="counts"):
        PointSet(np.zeros((1, 4, 3), np.float32), np.zeros(1, np.int64), ["a"], ["f"], counts=np.array([5]))
