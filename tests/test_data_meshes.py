"""read_mesh: every ModelNet trap read correctly, every bad file a MeshError naming file and reason."""
from pathlib import Path

import numpy as np
import pytest
import trimesh

from pointnet.data import MeshError, read_mesh
from pointnet.data.readers.meshes import parse_off

FIXTURES = Path(__file__).parent / "fixtures"
REAL = Path(__file__).parents[1].parent / "shared/data/modelnet-real/ModelNet10"
REAL_FILES = sorted(REAL.glob("*/*/*.off"))


@pytest.mark.parametrize(
    "name, vertices, triangles, area",
    [
        ("cube_quads.off", 8, 12, 6.0),  # 6 quads -> 12 triangles, none dropped
        ("fused_header.off", 8, 12, 6.0),  # "OFF8 6 0"
        ("comments_blank.off", 6, 4, 8.0),  # comments, blank lines, a pentagon -> 3 triangles
        ("crlf_trailing.off", 4, 2, 1.0),  # CRLF, trailing spaces and tabs
        ("edge_count.off", 4, 2, 1.0),  # non-zero edge count, ignored
        ("few_vertices.off", 4, 4, 1.5 + 0.75**0.5),  # a tetrahedron
        ("offset_units.off", 4, 2, 250000.0),  # coordinates far from the origin, big units
        ("extra_values.off", 4, 2, 1.0),  # per-vertex and per-face colours after the numbers
        ("quad.obj", 4, 2, 1.0),  # non-OFF formats go through trimesh
    ],
)
def test_reads_modelnet_traps(name, vertices, triangles, area):
    mesh = read_mesh(FIXTURES / name)
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.vertices.shape == (vertices, 3)
    assert mesh.faces.shape == (triangles, 3)
    assert mesh.area == pytest.approx(area)


def test_fused_header_equals_plain_header():
    plain, fused = read_mesh(FIXTURES / "cube_quads.off"), read_mesh(FIXTURES / "fused_header.off")
    np.testing.assert_array_equal(plain.vertices, fused.vertices)
    np.testing.assert_array_equal(plain.faces, fused.faces)


def test_polygon_faces_are_fan_triangulated_in_place():
    mesh = read_mesh(FIXTURES / "comments_blank.off")
    assert sorted(map(tuple, mesh.faces.tolist())) == [(0, 1, 2), (0, 1, 5), (0, 2, 3), (0, 3, 4)]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("bad_truncated.off", "truncated"),
        ("bad_garbage.off", "binary data"),
        ("bad_garbage_text.off", "not an OFF file"),
        ("bad_counts_extra.off", "counts don't match"),
        ("bad_counts_short.off", "truncated"),
        ("bad_nan.off", "non-finite"),
        ("bad_inf.off", "non-finite"),
        ("bad_index.off", "out of range"),
        ("bad_no_faces.off", "no faces"),
        ("bad_zero_area.off", "zero total surface area"),
        ("bad_empty.off", "empty file"),
        ("bad_header.off", "not an OFF file"),
        ("bad_vertex_text.off", "not three numbers"),
        ("bad_face_short.off", "announces 4 vertices"),
    ],
)
def test_bad_files_raise_mesh_error_naming_file_and_reason(name, reason):
    path = FIXTURES / name
    with pytest.raises(MeshError) as caught:
        read_mesh(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(str(path))
    assert reason in caught.value.reason
    assert caught.value.path == str(path)


def test_missing_file_is_a_mesh_error(tmp_path):
    for name in ("absent.off", "absent.obj"):
        with pytest.raises(MeshError, match="absent"):
            read_mesh(tmp_path / name)


def test_bad_non_off_files_keep_the_contract(tmp_path):
    (tmp_path / "garbage.ply").write_bytes(b"garbage\x00\x01\x02")
    (tmp_path / "empty.obj").write_text("# nothing\n")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    for name in ("garbage.ply", "empty.obj", "nan.obj"):
        with pytest.raises(MeshError, match=name):
            read_mesh(tmp_path / name)


def test_other_formats_round_trip(tmp_path):
    box = trimesh.creation.box((1.0, 2.0, 3.0))
    for suffix in ("ply", "stl", "obj"):
        box.export(tmp_path / f"box.{suffix}")
        assert read_mesh(tmp_path / f"box.{suffix}").area == pytest.approx(box.area)


def test_fast_and_line_parsers_agree():
    text = (FIXTURES / "edge_count.off").read_text()
    commented = text.replace("\n", " # forces the line parser\n", 1)
    for a, b in zip(parse_off(text), parse_off(commented)):
        np.testing.assert_array_equal(a, b)


def test_truncated_copy_of_a_real_file_is_rejected(tmp_path):
    data = REAL_FILES[0].read_bytes() if REAL_FILES else pytest.skip("real ModelNet files not found")
    (tmp_path / "cut.off").write_bytes(data[: len(data) // 2])
    with pytest.raises(MeshError, match="truncated"):
        read_mesh(tmp_path / "cut.off")


@pytest.mark.skipif(not REAL_FILES, reason="real ModelNet files not found beside the repository")
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_reads_real_modelnet_files(path):
    mesh = read_mesh(path)
    header = path.read_bytes().split(b"\n")[1].split()
    assert mesh.vertices.shape == (int(header[0]), 3)
    assert len(mesh.faces) >= int(header[1])
    assert mesh.area > 0 and np.isfinite(mesh.vertices).all()
