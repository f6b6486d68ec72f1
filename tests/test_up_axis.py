"""The up axis: x/y/z sources end z up; the statistic finds the files' up axis, or says it is unsure;
prepare and training report it per class, draw a picture and warn once."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pointnet.apps.prepare import prepare
from pointnet.apps.train import train
from pointnet.apps.up_axis_check import BOARD_TAG, PICTURE
from pointnet.data import PointSet, load_split
from pointnet.data.readers.sampling import to_z_up, z_up_axes
from pointnet.data.readers.up_axis import decide_up_axis, picture_shapes, shape_votes, up_axis_report, up_axis_warning
from pointnet.reporting.figures import save_figure, up_axis_figure
from tests.helpers import compose, tiny_overrides
from tests.up_axis_shapes import FLAT, TALL, WIDE, data_set, stood_on

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


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


def point_set(clouds: np.ndarray, labels: np.ndarray, classes: list[str], configured: str) -> PointSet:
    """Clouds in the files' axes, prepared as a loader would: turned z up from ``configured``."""
    prepared = np.stack([to_z_up(c, configured) for c in clouds]).astype(np.float32)
    return PointSet(prepared, labels, classes, [f"{i}.npy" for i in range(len(labels))])


@pytest.fixture(scope="module")
def shapes():
    """10 z-up clouds of 1024 points for each of tall, wide and flat classes, each turned at random about z."""
    return data_set(per_class=10, seed=3)


@pytest.mark.parametrize("up", ["x", "y", "z"])
def test_tall_wide_and_flat_shapes_vote_for_the_axis_they_stand_on(shapes, up):
    clouds, labels, classes = shapes
    stood = stood_on(clouds, up)
    votes = shape_votes(stood)
    for label, name in enumerate(classes):
        assert (votes[labels == label] == "xyz".index(up)).mean() >= 0.8, name
    extents = stood.max(axis=1) - stood.min(axis=1)
    wide = np.isin(np.array(classes)[labels], WIDE + FLAT)
    assert (extents[wide].argmax(axis=1) != "xyz".index(up)).all()  # why the tallest axis is the wrong statistic
    assert set(TALL + WIDE + FLAT) == set(classes)


@pytest.mark.parametrize("configured", ["x", "y", "z"])
@pytest.mark.parametrize("up", ["x", "y", "z"])
def test_the_decision_names_the_files_up_axis_whatever_axis_is_configured(shapes, up, configured):
    clouds, labels, classes = shapes
    decision = decide_up_axis([point_set(stood_on(clouds, up), labels, classes, configured)], configured)
    assert decision.axis == up and decision.votes[up] == len(classes) and decision.margin == len(classes)
    report = up_axis_report(decision, configured, "pics/up_axis.png")
    assert "  chair         " + up + "  (10 of 10, strong)" in report
    verdict = "as configured" if up == configured else f"not data.up_axis={configured}"
    assert f"up axis of the data set: {up} ({up} for 8 classes; margin 8), {verdict}" in report
    assert report.endswith("pics/up_axis.png")


def test_only_a_confident_disagreeing_decision_under_rotation_names_a_value(shapes):
    clouds, labels, classes = shapes
    decision = decide_up_axis([point_set(stood_on(clouds, "y"), labels, classes, "z")], "z")
    warning = up_axis_warning(decision, "z", rotate=True, picture="cache/up_axis.png")
    assert warning.startswith("data.up_axis=z, but the shapes are y up (y for 8 classes; margin 8; look at "
                              "cache/up_axis.png)")
    assert warning.endswith("set data.up_axis=y (or data.augment.rotate=false)")
    assert up_axis_warning(decision, "z", rotate=False) is None  # without rotation a wrong axis spins nothing
    right = decide_up_axis([point_set(stood_on(clouds, "y"), labels, classes, "y")], "y")
    assert up_axis_warning(right, "y", rotate=True) is None


def half_turned(shapes, turned: int):
    """The first ``turned`` classes stand on x, the others on z."""
    clouds, labels, classes = shapes
    on_x = labels < turned
    return np.where(on_x[:, None, None], stood_on(clouds, "x"), clouds), labels, classes


def test_split_evidence_is_unsure_and_its_warning_names_no_value(shapes):
    clouds, labels, classes = half_turned(shapes, 4)
    decision = decide_up_axis([point_set(clouds, labels, classes, "z")], "z")
    assert decision.axis is None and decision.votes == {"x": 4, "y": 0, "z": 4}
    report = up_axis_report(decision, "z", "up_axis.png")
    assert "up axis of the data set: unsure (x for 4 classes, z for 4)" in report
    warning = up_axis_warning(decision, "z", rotate=True, picture="up_axis.png")
    assert warning.startswith("cannot tell which axis is up (x for 4 classes, z for 4); look at up_axis.png")
    assert "set data.up_axis=" not in warning and "data.up_axis=x" not in warning


def test_an_unsure_decision_led_by_the_configured_axis_is_reported_not_warned(shapes):
    clouds, labels, classes = half_turned(shapes, 3)  # z for 5 classes, x for 3: not twice the runner-up
    decision = decide_up_axis([point_set(clouds, labels, classes, "z")], "z")
    assert decision.axis is None and decision.leader == "z"
    assert up_axis_warning(decision, "z", rotate=True) is None
    assert up_axis_warning(decision, "x", rotate=True).startswith("cannot tell which axis is up")


def test_a_class_whose_shapes_disagree_abstains_and_large_classes_get_one_vote(shapes):
    clouds, labels, classes = shapes
    mixed = clouds.copy()
    chairs = np.flatnonzero(labels == classes.index("chair"))
    for k, up in zip(np.array_split(chairs[:9], 3), "xyz"):
        mixed[k] = stood_on(clouds[k], up)
    decision = decide_up_axis([point_set(mixed, labels, classes, "z")], "z")
    chair = next(c for c in decision.classes if c.name == "chair")
    assert chair.strength == "weak" and not chair.decides
    assert decision.undecided == 1 and decision.votes["z"] == 7 and decision.axis == "z"
    flat = np.zeros((4, 64, 3), np.float32)  # a point, not a shape: no vote
    assert (shape_votes(flat) == -1).all()


def test_the_picture_shows_both_sides_of_a_split_in_the_files_axes_as_a_png(shapes, tmp_path):
    clouds, labels, classes = half_turned(shapes, 4)  # then stood on y: the first 4 classes z up, the others y up
    sets = [point_set(stood_on(clouds, "y"), labels, classes, "y")]
    decision = decide_up_axis(sets, "y")
    picked = picture_shapes(sets, decision, "y")
    assert len(picked) == 8 and all(len(c) == 2 for _, c in picked)
    assert [name for name, _ in picked][:4] == ["lamp", "bed", "shelf", "bench"]  # y up and z up in turn
    first = np.flatnonzero(labels == classes.index("bed"))[0]
    np.testing.assert_allclose(picked[1][1][0], stood_on(clouds, "y")[first], atol=1e-6)  # the files' axes
    path = save_figure(up_axis_figure(picked, "y", decision.axis), tmp_path / PICTURE)
    assert path.read_bytes()[:8] == PNG and path.stat().st_size < 400_000
    height, width, _ = imread(path).shape
    assert max(height, width) <= 820


def write_clouds(root: Path, up: str, per_class: int = 6) -> Path:
    """A ``data=folder`` set of ``.npy`` point files, every shape standing on source axis ``up``."""
    clouds, labels, classes = data_set(per_class=per_class, points=512, seed=5)
    for cloud, label in zip(stood_on(clouds, up), labels):
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{len(list(folder.iterdir())):03d}.npy", cloud)
    return root


def test_prepare_prints_the_report_writes_the_picture_beside_the_cache_and_warns_once(tmp_path):
    root = write_clouds(tmp_path / "set", up="y")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    args = ["data=folder", f"data.root={root}", "data.dense_points=512", "data.num_points=256", "data.workers=1",
            f"hydra.run.dir={tmp_path}/run"]
    run = subprocess.run([sys.executable, "-m", "pointnet.apps.prepare", *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    said = run.stdout + run.stderr
    assert said.count("data.up_axis=z, but the shapes are y up") == 1 and said.count("set data.up_axis=y") == 1
    assert "  chair         y  (6 of 6, strong)" in run.stdout
    picture = root / ".cache" / PICTURE
    assert f"picture (shapes drawn with x, y and z up): {picture}" in run.stdout
    assert picture.read_bytes()[:8] == PNG


def test_prepare_with_the_right_axis_says_so_and_does_not_warn(tmp_path, caplog):
    root = write_clouds(tmp_path / "set", up="x")
    overrides = ["data=folder", f"data.root={root}", "data.dense_points=512", "data.num_points=256", "data.workers=1",
                 "data.up_axis=x"]
    with caplog.at_level(logging.INFO):
        summary = prepare(compose(overrides=overrides).data)
    assert "up axis of the data set: x (x for 8 classes; margin 8), as configured" in summary
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_training_run_warns_once_and_shows_the_picture_in_tensorboard(tmp_path, caplog):
    root = write_clouds(tmp_path / "set", up="x", per_class=4)
    run_dir = tmp_path / "outputs" / "day" / "run"
    run_dir.mkdir(parents=True)
    cfg = compose(overrides=["data=folder", *tiny_overrides(root, "train.epochs=1", "data.dense_points=512")])
    with caplog.at_level(logging.INFO):
        train(cfg, run_dir=run_dir)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "up_axis" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("data.up_axis=z, but the shapes are x up")
    assert f"look at {run_dir / PICTURE}" in warnings[0]
    assert sum("up axis per class" in r.getMessage() for r in caplog.records) == 1
    assert (run_dir / PICTURE).read_bytes()[:8] == PNG
    board = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    board.Reload()
    (image,) = board.Images(BOARD_TAG)
    assert image.step == 0 and image.encoded_image_string[:8] == PNG
