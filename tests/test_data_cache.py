"""The per-split cache: built once, reused, rebuilt when sources, parameters or its own files change."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

import pointnet.data.datasets.cache as cache_module
import pointnet.data.datasets.load as splits
from pointnet.data import DatasetError, load_split
from pointnet.data.datasets.cache import SplitCache

BOX = "OFF\n8 6 0\n" + "".join(f"{x} {y} {z}\n" for z in (0, 1) for y in (0, 1) for x in (0, 1)) + (
    "4 0 2 3 1\n4 4 5 7 6\n4 0 1 5 4\n4 2 6 7 3\n4 0 4 6 2\n4 1 3 7 5\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name, count in {"bed": 2, "chair": 3}.items():
        folder = tmp_path / "set" / name / "train"
        folder.mkdir(parents=True)
        for i in range(1, count + 1):
            (folder / f"{name}_{i:04d}.off").write_text(BOX.replace("1 1 1", f"1 1 {i}"))
    return tmp_path / "set"


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Keys of the meshes sampled (in-process, workers=1), to see what a call rebuilt."""
    seen: list[str] = []
    real = splits.sample_mesh_file

    def counting(path, key, **kwargs):
        seen.append(key)
        return real(path, key, **kwargs)

    monkeypatch.setattr(splits, "sample_mesh_file", counting)
    return seen


def load(root, **kwargs):
    kwargs = {"dense_points": 64, "workers": 1, "progress": False, "cache_dir": root.parent / "cache", **kwargs}
    return load_split("meshes", root, "train", **kwargs)


def the_cache(root) -> SplitCache:
    manifests = sorted((root.parent / "cache").glob("*.json"))
    assert len(manifests) == 1
    return SplitCache(root.parent / "cache", manifests[0].stem)


def test_built_once_then_loaded_memory_mapped(root, calls):
    first = load(root)
    assert len(calls) == 5
    second = load(root)
    assert len(calls) == 5  # nothing sampled again
    assert isinstance(second.points, np.memmap) and not second.points.flags.writeable
    np.testing.assert_array_equal(first.points, second.points)
    assert second.points.shape == (5, 64, 3) and second.points.dtype == np.float32
    assert second.labels.dtype == np.int64
    manifest = json.loads(the_cache(root).manifest_path.read_text())
    assert manifest["version"] == cache_module.CACHE_VERSION
    assert manifest["params"]["dense_points"] == 64
    stat = os.stat(root / "bed" / "train" / "bed_0001.off")
    assert manifest["sources"][0] == ["bed/train/bed_0001.off", stat.st_size, stat.st_mtime_ns]
    assert [entry[0] for entry in manifest["sources"]] == second.files


def test_changed_added_or_removed_source_rebuilds(root, calls):
    load(root)
    path = root / "chair" / "train" / "chair_0001.off"
    path.write_text(BOX.replace("1 1 1", "2 2 2"))
    os.utime(path, ns=(1, 1))
    load(root)
    assert len(calls) == 10
    (root / "bed" / "train" / "bed_0003.off").write_text(BOX)
    assert len(load(root)) == 6
    (root / "bed" / "train" / "bed_0003.off").unlink()
    assert len(load(root)) == 5
    assert len(calls) == 10 + 6 + 5


def test_changed_parameter_gets_its_own_cache(root, calls):
    load(root)
    bigger = load(root, dense_points=128)
    with_normals = load(root, normals=True)
    assert bigger.points.shape == (5, 128, 3) and with_normals.points.shape == (5, 64, 6)
    assert len(calls) == 15
    assert len(list((root.parent / "cache").glob("*.json"))) == 3
    load(root, dense_points=128)
    assert len(calls) == 15


def test_corrupted_points_are_detected_and_rebuilt(root, calls):
    good = np.array(load(root).points)
    cache = the_cache(root)
    data = bytearray(cache.points_path.read_bytes())
    data[-5] ^= 0xFF  # same size, one flipped byte
    cache.points_path.write_bytes(bytes(data))
    assert "checksum" in cache.check({})
    np.testing.assert_array_equal(load(root).points, good)
    assert len(calls) == 10


def test_truncated_or_missing_arrays_are_rebuilt(root, calls):
    load(root)
    cache = the_cache(root)
    with open(cache.points_path, "r+b") as file:
        file.truncate(100)
    assert "truncated" in cache.check({})
    load(root)
    cache.labels_path.unlink()
    assert "missing" in cache.check({})
    load(root)
    assert len(calls) == 15


def test_half_written_cache_is_never_used(root, calls, monkeypatch):
    load(root)
    cache = the_cache(root)
    path = root / "chair" / "train" / "chair_0002.off"
    path.write_text(BOX.replace("1 1 1", "3 3 3"))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing the manifest")

    real = cache_module.atomic_write_text
    monkeypatch.setattr(cache_module, "atomic_write_text", crash)
    with pytest.raises(KeyboardInterrupt):
        load(root)
    monkeypatch.setattr(cache_module, "atomic_write_text", real)
    assert not cache.manifest_path.exists()  # arrays were replaced, manifest not: cache invalid
    (cache.folder / f".{cache.points_path.name}.tmp-999-deadbeef").write_bytes(b"half a file")
    assert "no manifest" in cache.check({})
    before = len(calls)
    load(root)
    assert len(calls) == before + 5  # rebuilt from scratch
    assert cache.check({}) is None


def test_bad_meshes_are_skipped_listed_and_reported(root):
    bad = root / "chair" / "train" / "chair_0009.off"
    bad.write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n3 0 1 2\n3 1 3 9\n")
    points = load(root)
    assert len(points) == 5
    assert points.skipped == [(str(bad), "face index 9 out of range for 4 vertices")]
    skipped_file = the_cache(root).skipped_path
    assert skipped_file.read_text() == f"{bad}\tface index 9 out of range for 4 vertices\n"
    summary = points.summary()
    assert "1 skipped" in summary and str(bad) in summary and "out of range" in summary
    assert load(root).skipped == points.skipped  # also when loaded from the cache


def test_results_do_not_depend_on_worker_count(root, tmp_path):
    one = load(root, workers=1, cache_dir=tmp_path / "one")
    two = load(root, workers=2, cache_dir=tmp_path / "two")
    np.testing.assert_array_equal(one.points, two.points)
    np.testing.assert_array_equal(one.labels, two.labels)
    other_seed = load(root, workers=1, cache_dir=tmp_path / "three", seed=1)
    assert not np.array_equal(one.points, other_seed.points)


def test_unwritable_cache_folder_is_a_clear_error(root, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    with pytest.raises(DatasetError, match="cache_dir"):
        load(root, cache_dir=blocker / "cache")
