"""``pointnet.Classifier``: the run's preprocessing from the checkpoint, batching, errors, and the same
numbers as ``pointnet-eval``."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from pointnet import Classifier
from pointnet.apps.common import open_checkpoint, prepare_data
from pointnet.apps.evaluate import evaluate_checkpoint
from pointnet.data import PointCloudDataset
from pointnet.data.datasets.inputs import Preprocessing, expand_inputs, load_points, mesh_points, prepare_cloud
from pointnet.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pointnet.training.evaluation import predict_logits
from pointnet.training.metrics import ConfusionMatrix
from tests.helpers import compose


def relative_gap(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def test_clouds(trained_run):
    """The test split exactly as ``pointnet-eval`` feeds it: ``(M, N, 3)`` clouds and ``(M,)`` labels."""
    _, state, data = open_checkpoint(compose("eval", [f"checkpoint={trained_run / 'last.pt'}"]), [])
    _, test_set = prepare_data(data, progress=False)
    dataset = PointCloudDataset(test_set, data.num_points, train=False, seed=state["config"]["seed"])
    items = [dataset[i] for i in range(len(dataset))]
    return torch.stack([p for p, _ in items]), torch.stack([label for _, label in items])


def test_the_checkpoint_gives_classes_and_the_runs_preprocessing(trained_run):
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    state = load_checkpoint(trained_run / "last.pt")
    assert clf.class_names == state["classes"] and len(clf.class_names) == 13
    assert clf.preprocessing == Preprocessing(num_points=32, up_axis="z", normals=False)
    assert clf.model.shared_mlp == "conv1d" and not clf.model.training


@pytest.mark.parametrize("variant", ["conv1d", "linear", "loop"])
@pytest.mark.parametrize("votes", [1, 3])
def test_predictions_equal_pointnet_eval(trained_run, tmp_path, test_clouds, variant, votes):
    """Same confusion matrix as ``evaluate_checkpoint`` (the eval app) and its model's logits."""
    checkpoint = trained_run / "last.pt"
    overrides = [f"checkpoint={checkpoint}", f"model/shared_mlp={variant}", f"eval.votes={votes}"]
    cfg = compose("eval", overrides)
    evaluated = evaluate_checkpoint(cfg, tmp_path, overrides=overrides)
    clf = Classifier.from_checkpoint(checkpoint, shared_mlp=variant, batch_size=4)  # batches differ from eval's
    points, labels = test_clouds
    predictions = clf.predict(points, top_k=1, votes=votes)
    logits = torch.from_numpy(np.stack([p.logits for p in predictions]))
    cm = ConfusionMatrix.empty(len(clf.class_names))
    cm.update(logits, labels)
    assert cm.matrix.tolist() == evaluated["confusion"] and cm.total == evaluated["shapes"]
    model, _, _ = open_checkpoint(cfg, overrides)
    reference, _ = predict_logits(model, points, votes)
    assert relative_gap(logits, reference) < 1e-5


def test_records_hold_top_k_softmax_and_logits(trained_run, tiny_data, tmp_path):
    mesh = next(Path(tiny_data).glob("chair/test/*.off"))
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    [record] = clf.predict(mesh, top_k=4)
    probabilities = torch.from_numpy(record.logits).softmax(0)
    best = probabilities.topk(4)
    assert record.source == str(mesh) and record.labels == [clf.class_names[int(i)] for i in best.indices]
    assert record.probabilities == pytest.approx(best.values.tolist(), abs=1e-7)
    assert record.label == record.labels[0] and record.top_k()[0] == (record.label, record.probabilities[0])
    assert len(clf.predict(mesh, top_k=100)[0].labels) == 13


def test_paths_arrays_and_batches_agree(trained_run, tiny_data, tmp_path):
    """A point file, the same numbers as an array, a list of both, any batch size: the same logits."""
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(500, 3)) * [2.0, 1.0, 0.5] + [10.0, -3.0, 1.0]
    np.save(tmp_path / "cloud.npy", raw)
    np.savetxt(tmp_path / "cloud.xyz", raw)
    small = tmp_path / "small.npy"  # fewer points than the run's 32: its own batch
    np.save(small, raw[:20])
    meshes = sorted(Path(tiny_data).glob("*/test/*.off"))[:5]
    inputs = [tmp_path / "cloud.npy", raw, str(tmp_path / "cloud.xyz"), small, *meshes]
    one = Classifier.from_checkpoint(trained_run / "last.pt", batch_size=1).predict(inputs)
    many = Classifier.from_checkpoint(trained_run / "last.pt", batch_size=32).predict(inputs)
    assert [p.source for p in one] == [str(inputs[0]), "input 1", str(inputs[2]), str(small), *map(str, meshes)]
    for a, b in zip(one, many):
        assert relative_gap(a.logits, b.logits) < 1e-5
    assert relative_gap(one[0].logits, one[1].logits) < 1e-5 and relative_gap(one[0].logits, one[2].logits) < 1e-5


def test_trimesh_objects_are_prepared_like_their_files(trained_run, tmp_path):
    """A Trimesh is sampled as its file would be (up axis, unit sphere), a Scene as its concatenated mesh,
    a PointCloud as the array of its vertices; a bad one raises naming it."""
    prep = Preprocessing(num_points=2048, up_axis="y")
    tower = trimesh.creation.box(extents=[1.0, 4.0, 2.0])  # tall along y, the source's up axis
    tower.export(tmp_path / "tower.off")
    from_object, from_file = mesh_points(tower, prep, "tower"), load_points(tmp_path / "tower.off", prep)
    assert from_object.shape == (2048, 3) and math.isclose(np.linalg.norm(from_object, axis=1).max(), 1, rel_tol=1e-6)
    extent = np.ptp(from_object, axis=0)
    np.testing.assert_allclose(extent, np.ptp(from_file, axis=0), rtol=0.02)
    np.testing.assert_allclose(extent / extent[0], [1.0, 2.0, 4.0], rtol=0.05)  # y (4) is z now, z (2) is y
    scene = trimesh.Scene()
    scene.add_geometry(tower, transform=trimesh.transformations.translation_matrix([0.0, 0.0, 5.0]))
    np.testing.assert_array_equal(mesh_points(scene, prep, "tower"), mesh_points(
        tower.copy().apply_translation([0.0, 0.0, 5.0]), prep, "tower"))
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    cloud = trimesh.PointCloud(np.random.default_rng(5).normal(size=(50, 3)))
    got, array = clf.predict([cloud, np.asarray(cloud.vertices)])
    assert got.source == "input 0" and relative_gap(got.logits, array.logits) < 1e-6
    assert clf.predict(tower)[0].source == "input 0"
    flat = trimesh.Trimesh(vertices=[[0, 0, 0], [1, 0, 0], [2, 0, 0]], faces=[[0, 1, 2]], process=False)
    with pytest.raises(ValueError, match=r"input 1 \(Trimesh\): zero total surface area"):
        clf.predict([tower, flat])
    with pytest.raises(ValueError, match=r"scan: a trimesh.PointCloud carries no normals"):
        mesh_points(cloud, Preprocessing(normals=True), "scan")


def test_raw_clouds_are_normalised_and_turned_to_z_up(trained_run, tmp_path):
    """Scale and offset do not change a prediction; a y-up run turns y-up clouds the way it trained."""
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    cloud = np.random.default_rng(2).normal(size=(32, 3))
    plain, moved = clf.predict([cloud, cloud * 7.5 + 100.0])
    assert relative_gap(moved.logits, plain.logits) < 1e-4
    state = load_checkpoint(trained_run / "last.pt")
    state["config"]["data"]["up_axis"] = "y"
    save_checkpoint(state, tmp_path / "y_up.pt")
    y_up = Classifier.from_checkpoint(tmp_path / "y_up.pt")
    assert y_up.preprocessing.up_axis == "y"
    y_cloud = cloud[:, [0, 2, 1]] * [1.0, 1.0, -1.0]  # z-up (x, y, z) seen from a y-up source: (x, z, -y)
    assert relative_gap(y_up.predict(y_cloud)[0].logits, plain.logits) < 1e-5


def test_bad_inputs_are_named(trained_run, tmp_path):
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    good = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match=r"input 1 \(array\): expected an \(N, 3\) cloud, got shape \(40, 2\)"):
        clf.predict([good, good[:, :2]])
    with pytest.raises(ValueError, match=r"input 0 \(array\): the cloud holds NaN"):
        clf.predict(np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match=r"tensor input: expected shape \(B, N, 3\).*\(2, 10, 4\)"):
        clf.predict(torch.zeros(2, 10, 4))
    with pytest.raises(ValueError, match="missing.npy.*no such file"):
        clf.predict(tmp_path / "missing.npy")
    (tmp_path / "notes.doc").write_text("x")
    with pytest.raises(ValueError, match="notes.doc: unsupported file type '.doc'"):
        clf.predict(str(tmp_path / "notes.doc"))
    with pytest.raises(TypeError, match="input 0: expected a path"):
        clf.predict([42])
    with pytest.raises(ValueError, match="top_k and votes must be >= 1"):
        clf.predict(good, top_k=0)
    with pytest.raises(CheckpointError, match="nope.pt: no such file"):
        Classifier.from_checkpoint(tmp_path / "nope.pt")


def test_normals_ride_along_as_channels_four_to_six(tiny_data):
    """A run with normals feeds ``(n, 6)``: xyz normalised, normals kept unit and turned to z up."""
    prep = Preprocessing(num_points=64, up_axis="y", normals=True)
    mesh = next(Path(tiny_data).glob("*/test/*.off"))
    points = load_points(mesh, prep)
    assert points.shape == (64, 6) and prep.channels == 6
    assert np.allclose(np.linalg.norm(points[:, 3:], axis=1), 1.0, atol=1e-5)
    raw = np.concatenate([np.random.default_rng(0).normal(size=(10, 3)) * 3, np.tile([0.0, 1.0, 0.0], (10, 1))], 1)
    cloud = prepare_cloud(raw, prep, "scan")
    assert np.allclose(cloud[:, 3:], [0.0, 0.0, 1.0]) and math.isclose(np.linalg.norm(cloud[:, :3], axis=1).max(), 1,
                                                                       rel_tol=1e-6)
    with pytest.raises(ValueError, match=r"scan: expected an \(N, 6\) cloud \(xyz \+ normals\)"):
        prepare_cloud(raw[:, :3], prep, "scan")


def test_normals_are_fed_as_training_fed_them_unit_length_and_never_colours(tmp_path):
    """A folder data set rescales a file's normals to unit length; predict must feed the same values."""
    prep = Preprocessing(num_points=16, normals=True)
    xyz = np.random.default_rng(3).normal(size=(16, 3))
    unit = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    cloud = prepare_cloud(np.concatenate([xyz, 5.0 * unit], axis=1), prep, "scan")
    np.testing.assert_allclose(cloud[:, 3:], unit, atol=1e-6)
    with pytest.raises(ValueError, match="scan: has zero-length normals"):
        prepare_cloud(np.concatenate([xyz, np.zeros((16, 3))], axis=1), prep, "scan")
    colours = np.random.default_rng(4).integers(0, 256, size=(16, 3))
    np.savetxt(tmp_path / "rgb.xyz", np.concatenate([xyz, colours], axis=1))
    with pytest.raises(ValueError, match="rgb.xyz: columns 4-6 hold integers 0-255, colours rather than normals"):
        load_points(tmp_path / "rgb.xyz", prep)
    assert load_points(tmp_path / "rgb.xyz", Preprocessing(num_points=16)).shape == (16, 3)


def test_a_gltf_scene_is_predicted_like_a_folder_data_set_reads_it(tmp_path):
    """glTF files train in data=folder, so predict takes them too: the scene's meshes, transformed, as one."""
    scene = trimesh.Scene()
    shift = trimesh.transformations.translation_matrix([3, 0, 0])
    scene.add_geometry(trimesh.creation.box(extents=[1, 1, 4]), transform=shift)
    scene.export(tmp_path / "tower.glb")
    points = load_points(tmp_path / "tower.glb", Preprocessing(num_points=256))
    assert points.shape == (256, 3)
    extent = points.max(axis=0) - points.min(axis=0)
    assert extent[2] > 3 * extent[0]  # the 1 x 1 x 4 box, centred and scaled, still tall along z


def test_folders_and_globs_expand(tmp_path):
    for name in ("a/one.off", "a/b/two.npy", "a/skip.doc", "a/scene.glb", "a/scene.GLTF", "c.xyz",
                 "a/__MACOSX/a/._one.off", "a/._two.off", "a/.cache/x.npy"):  # unzipped macOS junk, a cache
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = expand_inputs([str(tmp_path / "a"), str(tmp_path / "*.xyz"), str(tmp_path / "none*.off"), "lost.off"])
    assert found == [tmp_path / "a/b/two.npy", tmp_path / "a/one.off", tmp_path / "a/scene.GLTF",
                     tmp_path / "a/scene.glb", tmp_path / "c.xyz",
                     tmp_path / "none*.off", Path("lost.off")]
