"""Mesh formats read through trimesh: the packages they need are declared, and odd files are named right."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from pointnet.data import MeshError
from pointnet.data.readers.meshes import read_mesh

FORMATS = Path(__file__).parent / "fixtures" / "formats"
ROOT = Path(__file__).parent.parent
# (fixture, the module trimesh imports to read it, the distribution that provides that module)
NEEDS = [
    ("latin1_comment.obj", "charset_normalizer", "charset-normalizer"),  # byte 0xE9 in a comment
    ("latin1_name.stl", "charset_normalizer", "charset-normalizer"),  # byte 0xE9 in the solid's name
    ("face_colours.ply", "scipy", "scipy"),  # red/green/blue properties on the face element
]


@pytest.mark.parametrize("name", [n for n, _, _ in NEEDS])
def test_files_with_those_features_read_as_one_triangle(name):
    mesh = read_mesh(FORMATS / name)
    assert mesh.faces.shape == (1, 3) and mesh.vertices.shape == (3, 3)


@pytest.mark.parametrize("name,module,distribution", NEEDS)
def test_the_module_each_needs_is_declared_in_pyproject(name, module, distribution):
    """Without ``module`` the file is refused (so it is a real dependency), and pyproject declares it."""
    blocked = (f"import sys; sys.modules[{module!r}] = None\n"
               "from pointnet.data.readers.meshes import read_mesh\n"
               f"read_mesh({str(FORMATS / name)!r})\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0 and module in result.stderr and "ModuleNotFoundError" in result.stderr
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip().lower() == distribution for d in declared), declared


def test_a_point_cloud_ply_is_named_as_one():
    with pytest.raises(MeshError, match=r"point_cloud.ply: a point cloud \(10 vertices, no faces\), not a mesh"):
        read_mesh(FORMATS / "point_cloud.ply")


def test_an_overflowing_mesh_is_reported_as_overflow_not_zero_area(tmp_path):
    path = tmp_path / "huge.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1e300 0 0\n0 1e300 0\n3 0 1 2\n")
    with pytest.raises(MeshError, match=r"huge.off: coordinates too large: its surface area overflows .*1e\+300"):
        read_mesh(path)


def test_a_large_but_finite_mesh_still_reads(tmp_path):
    path = tmp_path / "large.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1e50 0 0\n0 1e50 0\n3 0 1 2\n")
    assert read_mesh(path).faces.shape == (1, 3)


def test_a_mesh_with_two_dimensional_vertices_is_named_as_such(tmp_path):
    path = tmp_path / "flat.obj"  # trimesh keeps an OBJ's 2-coordinate vertices as (V, 2)
    path.write_text("v 0 0\nv 1 0\nv 0 1\nf 1 2 3\n")
    with pytest.raises(MeshError, match=r"flat.obj: vertices must be \(V, 3\) and faces \(F, 3\) triangles, "
                                        r"got \(3, 2\) and \(1, 3\)"):
        read_mesh(path)
