"""The up axis: x/y/z sources end z up; prepare and training report the tallest axis and warn once."""
import logging

import numpy as np
import pytest
import trimesh

from pointnet.apps.prepare import prepare
from pointnet.apps.train import load_splits
from pointnet.data import load_split
from pointnet.data.sampling import to_z_up, z_up_axes
from tests.helpers import compose


def tall_boxes(root, axis: int, classes=("lamp", "vase"), count=3):
    """``count`` boxes per class and split, each tallest along source ``axis`` (0=x, 1=y, 2=z)."""
    for name in classes:
        for split in ("train", "test"):
            folder = root / name / split
            folder.mkdir(parents=True)
            for i in range(count):
                extents = [1.0 + 0.1 * i, 1.2, 1.4]
                extents[axis] = 5.0
                trimesh.creation.box(extents=extents).export(folder / f"{name}{i}.off")
    return root


def data_overrides(root, *extra):
    return ["data=folder", f"data.root={root}", "data.dense_points=64", "data.num_points=32", "data.workers=1",
            "data.val_fraction=0.25", *extra]


@pytest.mark.parametrize("up_axis,axis", [("x", 0), ("y", 1), ("z", 2)])
def test_the_configured_source_axis_ends_up_as_z(tmp_path, up_axis, axis):
    root = tall_boxes(tmp_path / "set", axis, classes=("lamp",), count=1)
    cloud = load_split("folder", root, "train", dense_points=256, up_axis=up_axis, workers=1, progress=False).points[0]
    extents = cloud.max(axis=0) - cloud.min(axis=0)
    assert extents.argmax() == 2 and extents[2] > 2 * extents[:2].max()


@pytest.mark.parametrize("up_axis", ["x", "y", "z"])
@pytest.mark.parametrize("name", ["x", "y", "z"])
def test_mirroring_a_source_axis_is_mirroring_the_axis_it_became(up_axis, name):
    """``data.augment.mirror`` names the data's own axes: negating source axis ``name`` before turning a
    cloud z up equals negating axis ``z_up_axes(name)`` after."""
    cloud = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    flipped = cloud.copy()
    flipped[:, "xyz".index(name)] *= -1
    expected = to_z_up(cloud, up_axis)
    (axis,) = z_up_axes(name, up_axis)
    expected[:, axis] *= -1
    np.testing.assert_array_equal(to_z_up(flipped, up_axis), expected)


def test_x_to_z_is_a_proper_rotation_and_turns_normals():
    cloud = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(to_z_up(cloud, "x"), [[0, 0, 1, 0, 0, 1], [1, 0, 0, 1, 0, 0]])


def test_prepare_reports_the_tallest_axis_and_warns_on_a_wrong_up_axis(tmp_path):
    root = tall_boxes(tmp_path / "set", axis=1)
    summary = prepare(compose(overrides=data_overrides(root)).data)
    assert "lamp  y for 3 of 3 shapes" in summary and "vase  y for 3 of 3 shapes" in summary
    assert "WARNING: data.up_axis=z" in summary and "set data.up_axis=y" in summary
    right = prepare(compose(overrides=data_overrides(root, "data.up_axis=y")).data)
    assert "lamp  y for 3 of 3 shapes" in right and "WARNING" not in right
    unrotated = prepare(compose(overrides=data_overrides(root, "data.augment.rotate=false")).data)
    assert "WARNING" not in unrotated  # without rotation a wrong axis spins nothing


def test_training_start_warns_once_naming_the_key_and_the_likely_value(tmp_path, caplog):
    root = tall_boxes(tmp_path / "set", axis=0)
    with caplog.at_level(logging.INFO):
        load_splits(compose(overrides=data_overrides(root)))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("data.up_axis=z, but 12 of 12 shapes") and "set data.up_axis=x" in warnings[0]
    assert any("lamp  x for 3 of 3 shapes" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        load_splits(compose(overrides=data_overrides(root, "data.up_axis=x")))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_no_warning_when_the_up_axis_is_the_most_common_tallest_even_without_a_majority(tmp_path):
    root = tmp_path / "set"
    tall_boxes(root, axis=1, classes=("chair",), count=3)  # 6 shapes tallest along y
    tall_boxes(root, axis=0, classes=("fish",), count=2)  # 4 wide ones along x
    tall_boxes(root, axis=2, classes=("table",), count=2)  # 4 along z
    assert "WARNING" not in prepare(compose(overrides=data_overrides(root, "data.up_axis=y")).data)
    summary = prepare(compose(overrides=data_overrides(root)).data)  # z: 10 of 14 disagree, y the most common
    assert "WARNING: data.up_axis=z, but 10 of 14 shapes" in summary and "set data.up_axis=y" in summary
