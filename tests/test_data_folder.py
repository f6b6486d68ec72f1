"""``data=folder``: every mesh and point format in mixed class folders, the stable hashed split, bad files."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pointnet.apps.config import ConfigError, validate_data
from pointnet.data import DatasetError, MeshError, load_split
from pointnet.data.datasets.folder import split_of, split_score
from pointnet.data.readers.point_files import read_point_file
from tests.helpers import compose
from tests.pcd_files import write_pcd, xyz_columns

POINTS = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
NORMALS = POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True)
CLOUD6 = np.concatenate([POINTS, NORMALS], axis=1)


def ply_cloud(path: Path, cloud: np.ndarray) -> Path:
    names = ["x", "y", "z", "nx", "ny", "nz"][: cloud.shape[1]]
    header = ["ply", "format ascii 1.0", f"element vertex {len(cloud)}",
              *[f"property float {n}" for n in names], "end_header"]
    rows = [" ".join(f"{v:.9g}" for v in row) for row in cloud]
    path.write_text("\n".join(header + rows) + "\n")
    return path


def write_every_format(folder: Path, tall_axis: int = 2) -> list[str]:
    """One file per supported format in ``folder``: five meshes (a box tall along ``tall_axis``), seven clouds."""
    folder.mkdir(parents=True, exist_ok=True)
    extents = [1.0, 1.5, 1.5]
    extents[tall_axis] = 4.0
    box = trimesh.creation.box(extents=extents)
    for suffix in ("off", "obj", "stl", "ply", "glb"):
        box.export(folder / f"mesh.{suffix}")
    np.save(folder / "cloud.npy", POINTS)
    np.savez(folder / "cloud6.npz", points=CLOUD6)
    np.savetxt(folder / "cloud.xyz", POINTS)
    np.savetxt(folder / "cloud6.txt", CLOUD6, delimiter=",")
    np.savetxt(folder / "cloud.pts", np.concatenate([POINTS, np.ones((40, 1))], axis=1))  # x y z intensity
    ply_cloud(folder / "cloud6.ply", CLOUD6)
    write_pcd(folder / "cloud6.pcd", xyz_columns(CLOUD6), "binary_compressed")
    return sorted(p.name for p in folder.iterdir())


def load(root, split="train", **kwargs):
    return load_split("folder", root, split, **{"dense_points": 16, "workers": 1, "progress": False, **kwargs})


def test_read_point_file_reads_every_point_format_exactly(tmp_path):
    names = write_every_format(tmp_path)
    expected = {"cloud.npy": POINTS, "cloud6.npz": CLOUD6, "cloud.xyz": POINTS, "cloud6.txt": CLOUD6,
                "cloud.pts": POINTS, "cloud6.ply": CLOUD6, "cloud6.pcd": CLOUD6}
    assert set(expected) <= set(names)
    for name, values in expected.items():
        got = read_point_file(tmp_path / name)
        assert got.dtype == np.float32 and got.shape == values.shape, name
        np.testing.assert_allclose(got, values, rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name,content,reason", [
    ("nan.npy", np.array([[0.0, np.nan, 1.0]]), "non-finite"),
    ("four.npy", np.zeros((5, 4)), r"\(N, 3\) or \(N, 6\)"),
    ("empty.xyz", "", "no points"),
    ("garbage.txt", "chair chair chair\n", "no row of numbers"),
    ("ragged.xyz", "1 2 3\n4 5\n", "ValueError"),
    ("two.npz", None, "name the point array 'points'"),
    ("model.las", "1,2,3\n", "unsupported point file type"),
])
def test_bad_point_files_raise_mesh_error_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, content)
    elif name.endswith(".npz"):
        np.savez(path, a=POINTS, b=POINTS)
    else:
        path.write_text(content)
    with pytest.raises(MeshError, match=reason) as error:
        read_point_file(path)
    assert str(error.value).startswith(str(path)) and error.value.path == str(path)


def test_a_ply_with_faces_is_not_a_point_cloud(tmp_path):
    trimesh.creation.box().export(tmp_path / "box.ply")
    with pytest.raises(MeshError, match="a mesh with 12 faces"):
        read_point_file(tmp_path / "box.ply")


def test_mixed_class_folders_with_split_folders_read_every_format(tmp_path):
    root = tmp_path / "set"
    for name in ("cup", "lamp"):
        names = write_every_format(root / name / "train")
        write_every_format(root / name / "test")
    train = load(root)
    assert train.classes == ["cup", "lamp"] and not train.skipped
    assert train.files[: len(names)] == [f"cup/train/{n}" for n in names]
    assert train.points.shape == (2 * len(names), 16, 3)
    assert np.abs(np.linalg.norm(train.points, axis=2).max() - 1.0) < 1e-5  # normalised like meshes
    assert len(load(root, "test", classes=train.classes)) == 2 * len(names)


def test_normals_come_from_faces_for_meshes_and_from_the_file_for_points(tmp_path):
    root = tmp_path / "set"
    for split in ("train", "test"):
        write_every_format(root / "box" / split)
    train = load(root, normals=True)
    skipped = {Path(path).name: reason for path, reason in train.skipped}
    assert set(skipped) == {"cloud.npy", "cloud.xyz", "cloud.pts"}  # 3 columns: no normals to feed
    assert all("data.normals=true" in reason for reason in skipped.values())
    normals = train.points[:, :, 3:]
    np.testing.assert_allclose(np.linalg.norm(normals, axis=2), 1.0, atol=1e-5)
    for key, cloud in zip(train.files, train.points):
        if key.endswith(("mesh.off", "mesh.obj", "mesh.stl", "mesh.ply", "mesh.glb")):
            assert np.allclose(np.abs(cloud[:, 3:]).max(axis=1), 1.0, atol=1e-5), key  # box faces: axis normals
    file_cloud = train.points[train.files.index("box/train/cloud6.npz")]
    direction = file_cloud[:, :3] / np.linalg.norm(file_cloud[:, :3], axis=1, keepdims=True)
    # each point's normal is its own direction from the origin in the file (the centring moves the points)
    assert (np.einsum("ij,ij->i", file_cloud[:, 3:], direction) > 0.5).mean() > 0.8


def test_hashed_split_is_seeded_stratified_and_stable_when_files_are_added(tmp_path):
    keys = [f"chair/c{i:03d}.npy" for i in range(200)]
    sides = split_of(keys, 0.2, split_seed=0)
    assert 25 <= sides.count("test") <= 55  # about a fifth
    assert split_of(keys, 0.2, split_seed=1) != sides  # the seed matters
    grown = split_of(keys + [f"chair/new{i}.npy" for i in range(50)], 0.2, split_seed=0)
    assert grown[:200] == sides  # adding files moves no earlier file
    assert split_score("a/b.off", 3) == split_score("a/b.off", 3)


def test_folder_without_split_folders_splits_each_class_and_records_the_split(tmp_path):
    root = tmp_path / "set"
    for name, count in (("bowl", 10), ("vase", 8)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            np.save(root / name / f"s{i}.npy", POINTS * (1 + i))
    train, test = load(root), load(root, "test", classes=["bowl", "vase"])
    assert len(train) + len(test) == 18 and set(train.files).isdisjoint(test.files)
    assert min(test.class_counts().values()) >= 1 and min(train.class_counts().values()) >= 1
    assert all(split_score(key, 0) < 0.2 for key in test.files)  # no tiny-class exception here
    for i in range(6, 12):
        np.save(root / "vase" / f"t{i}.npy", POINTS)
    grown_test = load(root, "test", classes=["bowl", "vase"])
    old = [f for f in grown_test.files if "/s" in f]
    assert sorted(old) == sorted(test.files)  # the old files stay where they were
    manifest = json.loads(next((root / ".cache").glob("folder-test-*.json")).read_text())
    assert manifest["params"]["folder_split"] == {"test_fraction": 0.2, "split_seed": 0}
    assert manifest["files"] == grown_test.files


def test_broken_files_are_reported_and_skipped_and_an_empty_class_is_an_error(tmp_path):
    root = tmp_path / "set"
    for split in ("train", "test"):
        write_every_format(root / "good" / split)
        (root / "good" / split / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
        (root / "bad" / split).mkdir(parents=True)
        (root / "bad" / split / "broken.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetError, match=r"no readable shape of the train split in .*bad: every one of its 1 "
                                           r"file\(s\) was skipped \(train/broken.npy: "):
        load(root)
    (root / "bad" / "train" / "broken.npy").unlink()
    with pytest.raises(DatasetError, match=r"bad.train has no usable files"):
        load(root)
    good = load(root, classes=["good"])
    assert [Path(p).name for p, _ in good.skipped] == ["broken.off"]
    assert "truncated" in good.skipped[0][1]


def test_folder_config_needs_a_root_and_checks_its_keys(tmp_path):
    with pytest.raises(ConfigError, match="^data.root: required for data=folder"):
        validate_data(compose(overrides=["data=folder"]).data)
    cfg = compose(overrides=["data=folder", f"data.root={tmp_path}", "data.test_fraction=1.5"])
    assert cfg.data.format == "folder"
    with pytest.raises(ConfigError, match=r"^data.test_fraction: must be in \[0, 1\)"):
        validate_data(cfg.data)
    with pytest.raises(ConfigError, match="^data.up_axis: unknown value 'w'"):
        validate_data(compose(overrides=["data=folder", f"data.root={tmp_path}", "data.up_axis=w"]).data)


def test_a_checkpoint_from_before_the_rename_still_gets_its_data_config():
    from pointnet.apps.common import data_config

    state = {"config": {"data": {"name": "modelnet40_resampled", "format": "resampled", "subset": "modelnet10"}}}
    data = data_config(compose("eval"), state, [])
    assert data.resampled_lists == "modelnet10" and data.format == "resampled"


def valid_bytes(suffix: str, cloud: np.ndarray) -> bytes:
    """The bytes of a well-formed point file of ``cloud`` in the format ``suffix``."""
    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, cloud)
    elif suffix == ".npz":
        np.savez(buffer, points=cloud)
    elif suffix == ".ply":
        names = ["x", "y", "z", "nx", "ny", "nz"][: cloud.shape[1]]
        header = ["ply", "format ascii 1.0", f"element vertex {len(cloud)}", *[f"property float {n}" for n in names],
                  "end_header"]
        buffer.write(("\n".join(header + [" ".join(map(str, row)) for row in cloud]) + "\n").encode())
    else:
        np.savetxt(buffer, cloud)
    return buffer.getvalue()


numbers = st.floats(allow_nan=True, allow_infinity=True, width=32)
clouds = st.integers(1, 6).flatmap(lambda c: st.lists(st.lists(numbers, min_size=c, max_size=c), min_size=0,
                                                              max_size=8))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".npy", ".npz", ".xyz", ".txt", ".pts", ".ply"]), rows=clouds,
       cut=st.one_of(st.none(), st.integers(0, 400)), noise=st.binary(max_size=40))
def test_any_bytes_give_points_or_a_mesh_error(tmp_path, suffix, rows, cut, noise):
    """Well-formed files of any shape and values, truncated or with garbage appended."""
    cloud = np.array(rows, dtype=np.float32).reshape(len(rows), -1) if rows else np.zeros((0, 3), np.float32)
    data = valid_bytes(suffix, cloud)
    data = (data[:cut] if cut is not None else data) + noise
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        points = read_point_file(path)
    except MeshError as error:
        assert error.path == str(path)
    else:
        assert points.dtype == np.float32 and points.ndim == 2 and points.shape[1] in (3, 6)
        assert len(points) and np.isfinite(points).all()


def test_files_in_subfolders_count_and_hidden_underscore_and_linked_folders_do_not(tmp_path):
    root = tmp_path / "set"
    chair, lamp = root / "chair" / "train", root / "lamp" / "train"
    for folder in (chair / "ikea" / "deep", chair / ".hidden", chair / "_drafts", lamp / "m1" / "models"):
        folder.mkdir(parents=True)
    for path in (chair / "a.npy", chair / "ikea" / "b.npy", chair / ".hidden" / "c.npy", chair / "_drafts" / "d.npy"):
        np.save(path, POINTS)
    trimesh.creation.box().export(chair / "ikea" / "deep" / "e.obj")
    trimesh.creation.box().export(lamp / "m1" / "models" / "model_normalized.obj")  # ShapeNet's layout
    (lamp / "m1" / "models" / "model_normalized.mtl").write_text("newmtl a\n")  # no known suffix: not a file to read
    (chair / "loop").symlink_to(chair, target_is_directory=True)  # a folder link is not entered
    train = load(root)
    assert train.files == ["chair/train/a.npy", "chair/train/ikea/b.npy", "chair/train/ikea/deep/e.obj",
                           "lamp/train/m1/models/model_normalized.obj"]
    assert not train.skipped


def test_subfolder_files_join_the_hashed_split_under_their_own_paths(tmp_path):
    root = tmp_path / "set"
    for i in range(12):
        folder = root / "bowl" / f"model{i}"
        folder.mkdir(parents=True)
        np.save(folder / "points.npy", POINTS * (1 + i))
    train, test = load(root), load(root, "test", classes=["bowl"])
    keys = [f"bowl/model{i}/points.npy" for i in range(12)]
    expected = [key for key, side in zip(keys, split_of(keys, 0.2, 0)) if side == "test"]
    assert sorted(test.files) == sorted(expected) and sorted(train.files + test.files) == sorted(keys)


def test_point_files_keep_their_own_points_and_the_cache_holds_no_more(tmp_path, caplog):
    """A file with fewer points than data.dense_points is cached as it is (no drawn copies); one with
    more gives a subset of dense_points; the cache stores each shape's count."""
    rng = np.random.default_rng(0)
    for name, count in (("a/big.npy", 40), ("a/small.npy", 10), ("b/one.npy", 24), ("b/two.npy", 24)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        np.save(tmp_path / name, rng.normal(size=(count, 3)))
    train = load(tmp_path, dense_points=32, test_fraction=0.0)
    by_file = dict(zip(train.files, train.counts.tolist()))
    assert by_file == {"a/big.npy": 32, "a/small.npy": 10, "b/one.npy": 24, "b/two.npy": 24}
    assert train.points.shape == (4, 32, 3)
    small = train.points[train.files.index("a/small.npy")]
    assert len(np.unique(small[:10], axis=0)) == 10  # its own ten points, each once
    np.testing.assert_array_equal(small[10:20], small[:10])  # the rows past them repeat them, never drawn
    same = load(tmp_path, dense_points=24, test_fraction=0.0)  # reloaded from its own cache
    assert same.points.shape == (4, 24, 3) and same.counts.tolist() == [24, 10, 24, 24]


def test_a_set_of_equal_point_files_is_cached_at_their_size(tmp_path):
    """ModelNet40-style 1,024-point files under dense_points=10000: the cache holds each file's points."""
    for name in ("a/1.npy", "a/2.npy", "b/1.npy", "b/2.npy"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        np.save(tmp_path / name, np.random.default_rng(len(name)).normal(size=(64, 3)).astype(np.float32))
    train = load(tmp_path, dense_points=10000, test_fraction=0.0)
    assert train.points.shape == (4, 64, 3) and (train.counts == 64).all()


def test_a_data_set_whose_folder_cannot_hold_the_cache_is_cached_in_the_users_cache(tmp_path, monkeypatch):
    """A read-only data set (a mounted archive): ``<root>/.cache`` cannot be made, so the cache goes to
    ``$XDG_CACHE_HOME/pointnet/<hash of the root>`` instead of failing the run."""
    root = tmp_path / "shapes"
    for name in ("a/1.npy", "a/2.npy", "b/1.npy", "b/2.npy"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        np.save(root / name, np.random.default_rng(len(name)).normal(size=(20, 3)))
    (root / ".cache").write_text("not a folder")  # as unwritable as a read-only mount, even for root
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    train = load(root, test_fraction=0.0)
    assert len(train) == 4 and len(list((tmp_path / "home-cache" / "pointnet").glob("*/*.json"))) == 1
    assert (root / ".cache").read_text() == "not a folder"
