"""The pre-sampled ModelNet40 distributions, on tiny files written here: HDF5 shards and resampled text."""
from pathlib import Path

import numpy as np
import pytest

from pointnet.data import DatasetError, load_split

NAMES = ["airplane", "bathtub", "night_stand"]


def unit_cloud(rng, count: int) -> np.ndarray:
    cloud = rng.normal(size=(count, 3)).astype(np.float32)
    return cloud / np.linalg.norm(cloud, axis=1).max()


def write_h5(root: Path, rng, with_normals: bool = True) -> Path:
    h5py = pytest.importorskip("h5py")
    root.mkdir(parents=True)
    (root / "shape_names.txt").write_text("\n".join(NAMES) + "\n")
    shards = {"train": [[0, 1, 2, 0], [1, 2]], "test": [[2, 0, 1]]}
    for split, labels_per_shard in shards.items():
        lines = []
        for k, labels in enumerate(labels_per_shard):
            name = f"ply_data_{split}{k}.h5"
            with h5py.File(root / name, "w") as file:
                file["data"] = np.stack([unit_cloud(rng, 16) for _ in labels])
                file["label"] = np.asarray(labels, dtype=np.uint8).reshape(-1, 1)
                if with_normals:
                    file["normal"] = np.tile(np.float32([0, 1, 0]), (len(labels), 16, 1))
            lines.append(f"data/modelnet40_ply_hdf5_2048/{name}")  # as in the official lists
        (root / f"{split}_files.txt").write_text("\n".join(lines) + "\n")
    return root


def test_h5_reads_shards_in_list_order(tmp_path):
    root = write_h5(tmp_path / "h5", np.random.default_rng(0))
    train = load_split("h5", root, "train", dense_points=8)
    assert train.classes == NAMES
    assert train.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert train.points.shape == (6, 8, 3) and train.points.dtype == np.float32
    assert train.files[4] == "ply_data_train1.h5:0"
    assert np.linalg.norm(train.points, axis=2).max() == pytest.approx(1.0, abs=1e-6)


def test_h5_normals_up_axis_classes_and_cap(tmp_path):
    root = write_h5(tmp_path / "h5", np.random.default_rng(1))
    test = load_split("h5", root, "test", dense_points=16, normals=True, up_axis="y")
    np.testing.assert_allclose(test.points[:, :, 3:], np.tile([0, 0, 1], (3, 16, 1)), atol=1e-7)
    picked = load_split("h5", root, "train", dense_points=4, classes=["night_stand", "airplane"], max_per_class=1)
    assert picked.classes == ["night_stand", "airplane"]
    assert picked.labels.tolist() == [1, 0]


def test_h5_errors_name_the_file(tmp_path):
    root = write_h5(tmp_path / "h5", np.random.default_rng(2), with_normals=False)
    with pytest.raises(DatasetError, match="no 'normal' dataset"):
        load_split("h5", root, "train", normals=True)
    with pytest.raises(DatasetError, match="val_files.txt"):
        load_split("h5", root, "val")
    (root / "ply_data_test0.h5").write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="ply_data_test0.h5"):
        load_split("h5", root, "test")


def write_resampled(root: Path, rng, rows: int = 40) -> Path:
    shapes = {"airplane": 3, "bathtub": 2, "night_stand": 2}
    for name, count in shapes.items():
        (root / name).mkdir(parents=True)
        for i in range(1, count + 1):
            cloud = np.concatenate([unit_cloud(rng, rows) * 5 + 2, np.tile([0.0, 1.0, 0.0], (rows, 1))], axis=1)
            np.savetxt(root / name / f"{name}_{i:04d}.txt", cloud, fmt="%.6f", delimiter=",")
    (root / "modelnet40_shape_names.txt").write_text("\n".join(NAMES) + "\n")
    (root / "modelnet10_shape_names.txt").write_text("bathtub\nnight_stand\n")
    (root / "modelnet40_train.txt").write_text(
        "airplane_0001\nairplane_0002\nbathtub_0001\nnight_stand_0001\nnight_stand_0002\n")
    (root / "modelnet40_test.txt").write_text("airplane_0003\nbathtub_0002\n")
    (root / "modelnet10_train.txt").write_text("bathtub_0001\nnight_stand_0001\n")
    (root / "modelnet10_test.txt").write_text("bathtub_0002\nnight_stand_0002\n")
    return root


def test_resampled_reads_first_points_and_caches_them(tmp_path):
    root = write_resampled(tmp_path / "resampled", np.random.default_rng(3))
    train = load_split("resampled", root, "train", dense_points=32, normals=True, up_axis="y",
                       workers=1, progress=False)
    assert train.classes == NAMES
    assert train.labels.tolist() == [0, 0, 1, 2, 2]
    assert train.files[3] == "night_stand/night_stand_0001.txt"
    assert train.points.shape == (5, 32, 6)
    np.testing.assert_allclose(train.points[..., 3:], np.tile([0, 0, 1], (5, 32, 1)), atol=1e-6)
    first = np.loadtxt(root / "airplane" / "airplane_0001.txt", delimiter=",", max_rows=32)[:, :3]
    centred = first - first.mean(axis=0)
    expected = (centred / np.linalg.norm(centred, axis=1).max())[:, [0, 2, 1]] * [1, -1, 1]
    np.testing.assert_allclose(train.points[0, :, :3], expected, atol=1e-5)
    assert isinstance(load_split("resampled", root, "train", dense_points=32, normals=True, up_axis="y",
                                 progress=False).points, np.memmap)  # second call: from the cache


def test_resampled_modelnet10_subset_and_bad_files(tmp_path):
    root = write_resampled(tmp_path / "resampled", np.random.default_rng(4))
    ten = load_split("resampled", root, "test", resampled_lists="modelnet10", dense_points=8, workers=1, progress=False)
    assert ten.classes == ["bathtub", "night_stand"] and ten.labels.tolist() == [0, 1]
    (root / "night_stand" / "night_stand_0002.txt").write_text("1,2,3,4,5,6\n")  # too short
    (root / "airplane" / "airplane_0002.txt").unlink()
    train = load_split("resampled", root, "train", dense_points=8, workers=1, progress=False)
    assert len(train) == 3
    reasons = dict(train.skipped)
    assert "need 8x3" in reasons[str(root / "night_stand" / "night_stand_0002.txt")]
    assert "not found" in reasons[str(root / "airplane" / "airplane_0002.txt")]
    with pytest.raises(DatasetError, match="modelnet40_val.txt"):
        load_split("resampled", root, "val", progress=False)
