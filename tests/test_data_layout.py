"""The ModelNet folder layout: class order, split folders, and errors that name the folder to fix."""
from pathlib import Path

import numpy as np
import pytest

from pointnet.data import DatasetError, load_split

BOX = "OFF\n8 6 0\n" + "".join(f"{x} {y} {z}\n" for z in (0, 1) for y in (0, 1) for x in (0, 1)) + (
    "4 0 2 3 1\n4 4 5 7 6\n4 0 1 5 4\n4 2 6 7 3\n4 0 4 6 2\n4 1 3 7 5\n"
)


def make_layout(root: Path, counts: dict[str, int], splits=("train", "test")) -> Path:
    for name, count in counts.items():
        for split in splits:
            folder = root / name / split
            folder.mkdir(parents=True)
            for i in range(1, count + 1):
                (folder / f"{name}_{i:04d}.off").write_text(BOX)
    return root


def load(root, split="train", **kwargs):
    kwargs = {"dense_points": 32, "workers": 1, "progress": False, **kwargs}
    return load_split("meshes", root, split, **kwargs)


def test_classes_are_sorted_folders_and_labels_follow(tmp_path):
    root = make_layout(tmp_path / "set", {"table": 2, "chair": 1, "bed": 3})
    (root / "README.txt").write_text("not a class")
    (root / "__MACOSX").mkdir()
    points = load(root)
    assert points.classes == ["bed", "chair", "table"]
    assert points.labels.tolist() == [0, 0, 0, 1, 2, 2]
    assert points.files[0] == "bed/train/bed_0001.off"
    assert (root / ".cache").is_dir()  # default cache folder, hidden: never a class
    assert load(root).classes == ["bed", "chair", "table"]


def test_shape_names_file_fixes_the_order(tmp_path):
    root = make_layout(tmp_path / "set", {"table": 1, "chair": 1, "bed": 1})
    (root / "shape_names.txt").write_text("table\nbed\nchair\n")
    assert load(root).classes == ["table", "bed", "chair"]


def test_classes_argument_fixes_order_and_selection(tmp_path):
    root = make_layout(tmp_path / "set", {"table": 1, "chair": 2, "bed": 1})
    points = load(root, "test", classes=["chair", "table"])
    assert points.classes == ["chair", "table"]
    assert points.labels.tolist() == [0, 0, 1]


def test_max_per_class_keeps_the_first_files(tmp_path):
    root = make_layout(tmp_path / "set", {"chair": 5})
    points = load(root, max_per_class=2)
    assert points.files == ["chair/train/chair_0001.off", "chair/train/chair_0002.off"]


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path / "nowhere")):
        load(tmp_path / "nowhere")


def test_missing_split_names_the_folder(tmp_path):
    root = make_layout(tmp_path / "set", {"chair": 1, "bed": 1}, splits=("train",))
    with pytest.raises(DatasetError, match=f"missing split folder {root / 'bed' / 'test'}"):
        load(root, "test")


def test_empty_class_folder_names_it(tmp_path):
    root = make_layout(tmp_path / "set", {"chair": 1})
    (root / "bed" / "train").mkdir(parents=True)
    (root / "bed" / "train" / "notes.txt").write_text("no meshes here")
    with pytest.raises(DatasetError, match=f"empty class folder {root / 'bed' / 'train'}"):
        load(root)


def test_listed_class_without_folder(tmp_path):
    root = make_layout(tmp_path / "set", {"chair": 1})
    with pytest.raises(DatasetError, match="class folder .*sofa"):
        load(root, classes=["chair", "sofa"])


def test_no_readable_mesh_fails_naming_the_folder(tmp_path):
    root = make_layout(tmp_path / "set", {"chair": 0, "bed": 1}, splits=("train",))
    (root / "chair" / "train" / "chair_0001.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
    with pytest.raises(DatasetError, match=str(root / "chair" / "train")):
        load(root)
    for path in (root / "bed" / "train").iterdir():
        path.write_text("garbage")
    with pytest.raises(DatasetError, match="no readable shape"):
        load(root)


REAL = Path(__file__).parents[1].parent / "shared/data/modelnet-real/ModelNet10"


@pytest.mark.skipif(not REAL.is_dir(), reason="real ModelNet files not found beside the repository")
def test_real_modelnet_files_prepare(tmp_path):
    real = load_split("meshes", REAL, "train", dense_points=256, normals=True, cache_dir=tmp_path,
                      workers=2, progress=False)  # read in place: the cache goes elsewhere
    assert real.classes == ["bathtub", "bed", "chair"]
    assert real.labels.tolist() == [0, 0, 0, 0, 0, 1, 2] and not real.skipped
    radius = np.linalg.norm(real.points[..., :3], axis=2)
    assert radius.max() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(real.points[..., :3].mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(real.points[..., 3:], axis=2), 1.0, rtol=1e-4)
    with pytest.raises(DatasetError, match="missing split folder .*test"):
        load_split("meshes", REAL, "test", cache_dir=tmp_path, progress=False)
