"""Point files as other tools write them: binary PLY, header rows, separators, PTS counts, colour columns."""
from pathlib import Path

import numpy as np
import pytest
import trimesh

from pointnet.data import MeshError
from pointnet.data.datasets.folder import sample_point_file
from pointnet.data.readers.point_files import read_point_file

POINTS = np.random.default_rng(1).normal(size=(30, 3))
NORMALS = POINTS / np.linalg.norm(POINTS, axis=1, keepdims=True)


def binary_ply(path: Path, columns: dict[str, np.ndarray], dtype: str = "<f4") -> Path:
    """A little-endian binary PLY vertex element with one property per column (as Open3D or PCL write it)."""
    kind = {"<f4": "float", "<f8": "double"}[dtype]
    records = np.empty(len(next(iter(columns.values()))), dtype=[(name, dtype) for name in columns])
    for name, values in columns.items():
        records[name] = values
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(records)}",
              *[f"property {kind} {name}" for name in columns], "end_header"]
    path.write_bytes(("\n".join(header) + "\n").encode() + records.tobytes())
    return path


def test_a_binary_ply_cloud_written_by_trimesh_reads_its_points(tmp_path):
    trimesh.PointCloud(POINTS).export(tmp_path / "cloud.ply")
    assert b"binary_little_endian" in (tmp_path / "cloud.ply").read_bytes()[:200]
    np.testing.assert_allclose(read_point_file(tmp_path / "cloud.ply"), POINTS, rtol=1e-6, atol=1e-6)


def test_a_binary_ply_with_normals_and_colours_gives_xyz_and_normals(tmp_path):
    columns = {"x": POINTS[:, 0], "y": POINTS[:, 1], "z": POINTS[:, 2],
               "nx": NORMALS[:, 0], "ny": NORMALS[:, 1], "nz": NORMALS[:, 2], "red": np.full(30, 200.0)}
    got = read_point_file(binary_ply(tmp_path / "scan.ply", columns, dtype="<f8"))
    np.testing.assert_allclose(got, np.concatenate([POINTS, NORMALS], axis=1), rtol=1e-6, atol=1e-6)


def text_rows(values: np.ndarray, separator: str) -> list[str]:
    return [separator.join(f"{v:.9g}" for v in row) for row in values]


@pytest.mark.parametrize("name,head,separator", [
    ("named.csv", ["x,y,z"], ","),
    ("named.xyz", ["X Y Z"], " "),
    ("excel.csv", ["x;y;z"], ";"),
    ("tabs.txt", ["# exported", "x\ty\tz"], "\t"),
    ("spaced.csv", [], ", "),
    ("scan.pts", ["30"], " "),  # Leica PTS: the point count, then one point per line
])
def test_text_point_files_skip_header_rows_and_read_any_separator(tmp_path, name, head, separator):
    path = tmp_path / name
    path.write_text("\n".join(head + text_rows(POINTS, separator)) + "\n")
    np.testing.assert_allclose(read_point_file(path), POINTS, rtol=1e-6, atol=1e-6)


def test_a_byte_order_mark_does_not_cost_the_first_point(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("\n".join(text_rows(POINTS, ",")), encoding="utf-8-sig")
    np.testing.assert_allclose(read_point_file(path), POINTS, rtol=1e-6, atol=1e-6)


def test_a_header_row_with_normal_columns_keeps_the_normals(tmp_path):
    path = tmp_path / "cloud.csv"
    path.write_text("\n".join(["x,y,z,nx,ny,nz"] + text_rows(np.concatenate([POINTS, NORMALS], axis=1), ",")))
    got = read_point_file(path)
    assert got.shape == (30, 6)
    np.testing.assert_allclose(got[:, 3:], NORMALS, rtol=1e-6, atol=1e-6)


def test_a_count_line_is_skipped_only_before_points(tmp_path):
    path = tmp_path / "one.xyz"
    path.write_text("7\n")  # a lone number is a one-column row, not a count, when no points follow
    with pytest.raises(MeshError, match="one.xyz"):
        sample_point_file(path, "one.xyz", count=4)


def test_colour_columns_are_refused_as_normals_and_ignored_without_them(tmp_path):
    colours = np.random.default_rng(2).integers(0, 256, size=(30, 3))
    path = tmp_path / "coloured.xyz"
    path.write_text("\n".join(text_rows(np.concatenate([POINTS, colours], axis=1), " ")))
    with pytest.raises(MeshError, match=r"coloured.xyz: columns 4-6 hold integers 0-255, colours rather than normals"):
        sample_point_file(path, "coloured.xyz", count=16, normals=True)
    assert sample_point_file(path, "coloured.xyz", count=16).shape == (16, 3)


def test_unit_normals_that_happen_to_be_whole_numbers_are_kept(tmp_path):
    box = trimesh.creation.box()
    points, faces = trimesh.sample.sample_surface(box, 64, seed=0)
    path = tmp_path / "box.xyz"
    path.write_text("\n".join(text_rows(np.concatenate([points, box.face_normals[faces]], axis=1), " ")))
    cloud = sample_point_file(path, "box.xyz", count=32, normals=True)
    np.testing.assert_allclose(np.abs(cloud[:, 3:]).max(axis=1), 1.0, atol=1e-6)
