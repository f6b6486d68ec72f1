"""PCD point files (``pointnet.data.readers.pcd``) wherever point files are read: the reader, folder data sets,
training, ``Classifier.predict`` and ``pointnet-predict``.

Where the fixtures come from: the well-formed files are written by pypcd4 (``tests/pcd_files.py``), whose
binary_compressed streams are liblzf's (python-neo-lzf), the compressor PCL bundles; ``PCL_DOC_EXAMPLE`` is
the ascii example of PCL's format documentation (pointclouds.org, "The PCD (Point Cloud Data) file format"),
cut to its first five points; the malformed files are hand-written from a valid header (``pcd_bytes``).
"""
import json
import struct
from pathlib import Path

import lzf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pointnet import Classifier
from pointnet.data import MeshError, load_split
from pointnet.data.readers.pcd import lzf_decompress
from pointnet.data.readers.point_files import read_point_file
from tests.helpers import compose
from tests.pcd_files import ENCODINGS, write_pcd, xyz_columns
from tests.test_predict import predict

RNG = np.random.default_rng(3)
# magnitudes from 0.5 to 4: pypcd4's ascii writes 10 decimals, which round-trip these float32 values exactly
POINTS = (RNG.uniform(0.5, 4.0, size=(50, 3)) * RNG.choice([-1, 1], size=(50, 3))).astype(np.float32)
NORMALS = (POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True)).astype(np.float32)

PCL_DOC_EXAMPLE = b"""# .PCD v.7 - Point Cloud Data file format
VERSION .7
FIELDS x y z rgb
SIZE 4 4 4 4
TYPE F F F F
COUNT 1 1 1 1
WIDTH 5
HEIGHT 1
VIEWPOINT 0 0 0 1 0 0 0
POINTS 5
DATA ascii
0.93773 0.33763 0 4.2108e+06
0.90805 0.35641 0 4.2108e+06
0.81915 0.32 0 4.2108e+06
0.97192 0.278 0 4.2108e+06
0.944 0.29474 0 4.2108e+06
"""


def scan_columns(points: np.ndarray, normals: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The fields of a coloured LiDAR-style scan: extra fields of every type and size before, between and
    after the coordinates, a 33-value histogram (COUNT 33) and a 2-byte ``_`` padding field."""
    n = len(points)
    columns = {"timestamp": np.arange(n, dtype=np.float64), "x": points[:, 0],
               "intensity": np.full(n, 0.25, np.float32), "y": points[:, 1],
               "ring": (np.arange(n) % 16).astype(np.uint16), "z": points[:, 2],
               "fpfh": np.full((n, 33), 7.5, np.float32), "_": np.zeros((n, 2), np.uint8),
               "rgb": np.full(n, 0xFF8040, np.uint32), "label": -np.arange(n, dtype=np.int8)}
    if normals is not None:
        columns |= {"normal_x": normals[:, 0], "normal_y": normals[:, 1].astype(np.float64),
                    "normal_z": normals[:, 2], "curvature": np.full(n, 0.01, np.float32)}
    return columns


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_encoding_reads_exactly_the_points_pypcd4_wrote(tmp_path, encoding):
    got = read_point_file(write_pcd(tmp_path / "cloud.pcd", xyz_columns(POINTS), encoding))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, POINTS)


def test_the_three_encodings_of_a_scan_give_identical_arrays_and_ignore_the_extra_fields(tmp_path):
    read = {e: read_point_file(write_pcd(tmp_path / f"{e}.pcd", scan_columns(POINTS), e)) for e in ENCODINGS}
    assert b"COUNT 1 1 1 1 1 1 33 2 1 1" in (tmp_path / "binary.pcd").read_bytes()[:300]
    for encoding, points in read.items():
        np.testing.assert_array_equal(points, POINTS, err_msg=encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_normal_fields_become_columns_four_to_six(tmp_path, encoding):
    got = read_point_file(write_pcd(tmp_path / "normals.pcd", scan_columns(POINTS, NORMALS), encoding))
    np.testing.assert_array_equal(got, np.concatenate([POINTS, NORMALS], axis=1))
    partial = {k: v for k, v in scan_columns(POINTS, NORMALS).items() if k != "normal_z"}
    assert read_point_file(write_pcd(tmp_path / "partial.pcd", partial, encoding)).shape == (50, 3)


def test_the_pcl_documentation_example_reads_its_points(tmp_path):
    (tmp_path / "doc.pcd").write_bytes(PCL_DOC_EXAMPLE)
    expected = [[0.93773, 0.33763, 0], [0.90805, 0.35641, 0], [0.81915, 0.32, 0], [0.97192, 0.278, 0],
                [0.944, 0.29474, 0]]
    np.testing.assert_array_equal(read_point_file(tmp_path / "doc.pcd"), np.float32(expected))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_nan_points_of_an_organised_scan_are_dropped(tmp_path, encoding):
    cloud = np.concatenate([POINTS[:48], NORMALS[:48]], axis=1)
    cloud[[0, 7, 9], 0] = np.nan  # holes of the 6 x 8 grid
    cloud[20, 1] = np.inf
    cloud[30, 4] = np.nan  # a point whose normal could not be estimated
    path = write_pcd(tmp_path / "organised.pcd", xyz_columns(cloud), encoding, width=6)
    assert b"WIDTH 6\nHEIGHT 8\n" in path.read_bytes()[:300]
    kept = np.isfinite(cloud).all(axis=1)
    np.testing.assert_array_equal(read_point_file(path), cloud[kept])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_cloud_of_nan_points_only_is_a_mesh_error(tmp_path, encoding):
    path = write_pcd(tmp_path / "holes.pcd", xyz_columns(np.full((12, 3), np.nan, np.float32)), encoding)
    with pytest.raises(MeshError, match="holes.pcd: no finite point: all 12 points hold NaN or inf"):
        read_point_file(path)


HEAD = {"VERSION": "0.7", "FIELDS": "x y z", "SIZE": "4 4 4", "TYPE": "F F F", "COUNT": "1 1 1", "WIDTH": "2",
        "HEIGHT": "1", "VIEWPOINT": "0 0 0 1 0 0 0", "POINTS": "2", "DATA": "ascii"}
TWO = np.float32([[1, 2, 3], [4, 5, 6]])


def pcd_bytes(body: bytes = b"1 2 3\n4 5 6\n", **changes: str | None) -> bytes:
    """A PCD file of ``HEAD`` with ``changes`` (None drops a line) and ``body`` after the DATA line."""
    lines = {**HEAD, **changes}
    return "".join(f"{key} {value}\n" for key, value in lines.items() if value is not None).encode() + body


def liblzf(data: bytes) -> bytes:
    """``data`` compressed by liblzf, given room to grow: incompressible data gets a little longer."""
    return lzf.compress(data, len(data) * 33 // 32 + 64)  # liblzf expands at most 1 byte per 32


def compressed(stream: bytes, unpacked: int, stated: int | None = None) -> bytes:
    """A binary_compressed body: the stream's size (or ``stated``), the unpacked size, the stream."""
    return struct.pack("<II", len(stream) if stated is None else stated, unpacked) + stream


@pytest.mark.parametrize("data,reason", [
    (pcd_bytes(FIELDS=None), "the PCD header has no FIELDS line"),
    (pcd_bytes(FIELDS="x y w"), "no field z: FIELDS are x y w"),
    (pcd_bytes(FIELDS="x y y"), "2 fields are named y"),
    (pcd_bytes(DATA="binary_lzma"), "unknown DATA 'binary_lzma'; PCD data is ascii, binary, binary_compressed"),
    (pcd_bytes(DATA=None), r"not a PCD header line: '1 2 3'"),
    (pcd_bytes(SIZE="4 4"), "SIZE lists 2 values for 3 FIELDS"),
    (pcd_bytes(SIZE="4 4 1"), "field z: TYPE F with SIZE 1 is not a PCD type"),
    (pcd_bytes(TYPE="F F Q"), "field z: TYPE Q with SIZE 4 is not a PCD type"),
    (pcd_bytes(COUNT="3 1 1"), "field x has COUNT 3; a coordinate is one value"),
    (pcd_bytes(WIDTH="3"), "WIDTH 3 x HEIGHT 1 is 3 points, but POINTS says 2"),
    (pcd_bytes(POINTS="-2"), "POINTS value '-2' is not a whole number"),
    (pcd_bytes(POINTS=None, WIDTH=None), "neither POINTS nor WIDTH"),
    (pcd_bytes(WIDTH="3", POINTS="3"), "ascii data holds 2 rows of 3 values, but the header says 3 points of 3"),
    (pcd_bytes(b"1 2 3\n4 5 six\n"), "ascii data: could not convert string 'six'"),
    (pcd_bytes(TWO.tobytes()[:20], DATA="binary"), "binary data holds 20 bytes, but the header's 2 points of 12 "
                                                   "bytes need 24"),
    (pcd_bytes(TWO.tobytes() + b"\n", DATA="binary"), "binary data holds 25 bytes"),
    (pcd_bytes(b"\x05\x00\x00", DATA="binary_compressed"), "less than its two 4-byte sizes"),
    (pcd_bytes(compressed(liblzf(TWO.T.tobytes()), 16), DATA="binary_compressed"), "unpacks to 16 bytes"),
    (pcd_bytes(compressed(b"\x00\x01", 24, stated=9), DATA="binary_compressed"), "holds 2 bytes after its sizes, "
                                                                                 "but says 9"),
    (pcd_bytes(compressed(b"\x20\x05", 24), DATA="binary_compressed"), "back reference at byte 2 reaches outside"),
    (pcd_bytes(compressed(b"\x17abc", 24), DATA="binary_compressed"), "literal run at byte 0 overruns"),
    (pcd_bytes(compressed(b"\x02abc", 24), DATA="binary_compressed"), "unpacks to 3 bytes, not 24"),
    (pcd_bytes(compressed(b"\xe0", 24), DATA="binary_compressed"), "ends inside a back reference"),
    (pcd_bytes(compressed(bytes(9), 12_000_000), POINTS="1000000", WIDTH="1000000", DATA="binary_compressed"),
     "9 LZF bytes cannot unpack to 12000000"),
    (pcd_bytes(POINTS="2\nPOINTS 2"), "the PCD header has two POINTS lines"),
    (b"ply\nformat ascii 1.0\n", "not a PCD header line: 'ply'"),
    (b"VERSION 0.7\nFIELDS x y z", "not a PCD file: no DATA line"),
])
def test_malformed_files_raise_a_mesh_error_naming_the_problem(tmp_path, data, reason):
    path = tmp_path / "bad.pcd"
    path.write_bytes(data)
    with pytest.raises(MeshError, match=reason) as error:
        read_point_file(path)
    assert error.value.path == str(path) and str(error.value).startswith(f"{path}: ")


def test_the_valid_header_the_malformed_cases_start_from_reads(tmp_path):
    for name, data in {"ascii.pcd": pcd_bytes(), "binary.pcd": pcd_bytes(TWO.tobytes(), DATA="binary"),
                       "lzf.pcd": pcd_bytes(compressed(liblzf(TWO.T.tobytes()), 24), DATA="binary_compressed")
                       }.items():
        (tmp_path / name).write_bytes(data)
        np.testing.assert_array_equal(read_point_file(tmp_path / name), TWO, err_msg=name)
    (tmp_path / "empty.pcd").write_bytes(pcd_bytes(b"", POINTS="0", WIDTH="0").rstrip(b"\n"))
    with pytest.raises(MeshError, match="empty.pcd: no points"):
        read_point_file(tmp_path / "empty.pcd")


@pytest.mark.parametrize("size", [1, 2, 31, 33, 1000, 70_000])
def test_lzf_decompression_inverts_liblzf(size):
    rng = np.random.default_rng(size)
    samples = [rng.integers(0, 256, size, dtype=np.uint8).tobytes(), bytes(size), (b"abcdefg" * size)[:size],
               rng.integers(0, 3, size, dtype=np.uint8).tobytes(),
               np.sort(rng.normal(size=size)).astype("<f4").tobytes()]  # a scan's column: smooth floats
    for data in samples:
        assert lzf_decompress(liblzf(data), len(data)) == data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encoding=st.sampled_from(ENCODINGS), columns=st.integers(1, 6),
       values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=48),
       cut=st.one_of(st.none(), st.integers(0, 600)), noise=st.binary(max_size=40))
def test_any_pcd_truncated_or_with_bytes_appended_gives_points_or_a_mesh_error(tmp_path, encoding, columns, values,
                                                                               cut, noise):
    cloud = np.float32(values[: len(values) // columns * columns] or [0] * columns).reshape(-1, columns)
    path = write_pcd(tmp_path / "fuzz.pcd", xyz_columns(cloud), encoding)
    data = path.read_bytes()
    path.write_bytes((data[:cut] if cut is not None else data) + noise)
    try:
        points = read_point_file(path)
    except MeshError as error:
        assert error.path == str(path)
    else:
        assert points.dtype == np.float32 and points.shape[1] in (3, 6) and len(points)
        assert np.isfinite(points).all()


def shape_clouds(kind: str, count: int, seed: int) -> list[np.ndarray]:
    """``count`` clouds of 96 points with normals: on a unit sphere (``ball``) or a box 4 long in z (``rod``)."""
    rng = np.random.default_rng(seed)
    clouds = []
    for _ in range(count):
        directions = rng.normal(size=(96, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        points = directions * (1.0 if kind == "ball" else [0.3, 0.3, 2.0])
        clouds.append(np.concatenate([points, directions], axis=1).astype(np.float32))
    return clouds


def pcd_data_set(root: Path, per_split: dict[str, int]) -> Path:
    """``ball`` and ``rod`` classes of .pcd files in the three encodings, in ``train``/``test`` folders."""
    for k, kind in enumerate(("ball", "rod")):
        for s, (split, count) in enumerate(per_split.items()):
            folder = root / kind / split
            folder.mkdir(parents=True)
            for i, cloud in enumerate(shape_clouds(kind, count, seed=10 * k + s)):
                write_pcd(folder / f"{kind}{i}.pcd", xyz_columns(cloud), ENCODINGS[i % 3])
    return root


def test_a_folder_data_set_of_pcd_files_prepares_and_skips_a_cloud_of_holes(tmp_path):
    root = pcd_data_set(tmp_path / "set", {"train": 3, "test": 1})
    write_pcd(root / "ball" / "train" / "holes.pcd", xyz_columns(np.full((8, 3), np.nan, np.float32)), "binary")
    train = load_split("folder", root, "train", dense_points=32, workers=1, progress=False, normals=True)
    assert train.classes == ["ball", "rod"] and train.points.shape == (6, 32, 6)
    assert [(Path(p).name, reason) for p, reason in train.skipped] == [
        ("holes.pcd", "no finite point: all 8 points hold NaN or inf")]
    np.testing.assert_allclose(np.linalg.norm(train.points[:, :, 3:], axis=2), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def pcd_run(tmp_path_factory):
    """A two-epoch training on a folder data set of .pcd files: its run dir and its data set root."""
    from pointnet.apps.train import train

    root = pcd_data_set(tmp_path_factory.mktemp("pcd") / "set", {"train": 6, "test": 3})
    out = tmp_path_factory.mktemp("pcd_outputs") / "run"
    out.mkdir()
    train(compose(overrides=["data=folder", f"data.root={root}", "data.num_points=32", "data.dense_points=64",
                             "data.val_fraction=0.25", "data.workers=1", "train.epochs=2", "train.batch_size=4",
                             "train.log_every=1", "train.num_clouds=2", "runtime.threads=1"]), run_dir=out)
    return out, root


def test_a_pcd_data_set_trains_and_both_predict_paths_read_pcd_files(pcd_run, tmp_path):
    run, root = pcd_run
    clf = Classifier.from_checkpoint(run / "last.pt")
    assert clf.class_names == ["ball", "rod"]
    files = sorted((root / "rod" / "test").glob("*.pcd"))
    predicted = clf.predict(files, top_k=2)
    assert len(predicted) == 3 and all(sorted(p.labels) == ["ball", "rod"] for p in predicted)
    result = predict(run / "last.pt", f"[{root / 'rod' / 'test'}]", "predict.format=json", "eval.top_k=2",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == list(map(str, files))
    assert [[t["label"] for t in r["top_k"]] for r in records] == [p.labels for p in predicted]
