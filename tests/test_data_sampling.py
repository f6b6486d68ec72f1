"""Surface sampling: area-weighted, seeded per mesh, z up, centred and inside the unit sphere."""
import numpy as np
import pytest
import trimesh

from pointnet.data.errors import MeshError
from pointnet.data.readers.sampling import mesh_seed, normalize, sample_mesh_file, sample_surface, to_z_up


def test_normalised_into_unit_sphere_at_the_centroid():
    mesh = trimesh.creation.box((4.0, 2.0, 1.0))
    mesh.apply_translation([100.0, -50.0, 7.0])
    points = sample_surface(mesh, 2000, rng=0)
    assert points.shape == (2000, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=1e-5)
    assert np.linalg.norm(points, axis=1).max() == pytest.approx(1.0, abs=1e-6)


def test_sampling_is_area_weighted():
    big = trimesh.creation.box((1.0, 1.0, 1.0))
    small = trimesh.creation.box((0.1, 0.1, 0.1))
    small.apply_translation([5.0, 0.0, 0.0])  # 100x less area, far away
    points = sample_surface(trimesh.util.concatenate([big, small]), 20000, rng=1)
    share = (points[:, 0] > points[:, 0].mean() + 0.5).mean()
    assert share == pytest.approx(0.01, abs=0.004)


def test_normals_are_the_sampled_faces_normals():
    mesh = trimesh.creation.box((1.0, 1.0, 1.0))
    points = sample_surface(mesh, 500, normals=True, rng=2)
    assert points.shape == (500, 6)
    np.testing.assert_allclose(np.linalg.norm(points[:, 3:], axis=1), 1.0, rtol=1e-5)
    xyz, normal = points[:, :3], points[:, 3:]
    axis = np.abs(normal).argmax(axis=1)  # a box face's normal is +-e_k, and its points sit at the
    side = normal[np.arange(500), axis] > 0  # extreme of coordinate k on that side
    coordinate = xyz[np.arange(500), axis]
    extreme = np.where(side, xyz.max(axis=0)[axis], xyz.min(axis=0)[axis])
    np.testing.assert_allclose(coordinate, extreme, atol=1e-5)


def test_y_up_source_is_turned_to_z_up():
    cloud = np.array([[0.0, 1.0, 0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    turned = to_z_up(cloud, "y")
    np.testing.assert_allclose(turned, [[0, 0, 1, 0, 0, 1], [1, 0, 0, 1, 0, 0]], atol=1e-7)
    assert to_z_up(cloud, "z") is cloud
    with pytest.raises(ValueError, match="up_axis"):
        to_z_up(cloud, "w")


def test_tall_y_up_mesh_ends_tall_in_z():
    pole = trimesh.creation.box((0.1, 3.0, 0.1))  # tall along y
    points = sample_surface(pole, 1000, up_axis="y", rng=0)
    extent = np.ptp(points, axis=0)
    assert extent[2] > 10 * extent[0] and extent[2] > 10 * extent[1]


def test_seeded_per_file_key_not_per_call_order():
    mesh = trimesh.creation.icosphere(1)
    first = sample_surface(mesh, 100, rng=mesh_seed(0, "chair/train/chair_0001.off"))
    again = sample_surface(mesh, 100, rng=mesh_seed(0, "chair/train/chair_0001.off"))
    other = sample_surface(mesh, 100, rng=mesh_seed(0, "chair/train/chair_0002.off"))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_degenerate_cloud_is_a_mesh_error():
    with pytest.raises(MeshError, match="coincide"):
        normalize(np.zeros((10, 3), dtype=np.float32))


def test_sample_mesh_file_names_bad_file(tmp_path):
    path = tmp_path / "bad.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1 1 1\n2 2 2\n3 0 1 2\n")
    with pytest.raises(MeshError, match="bad.off"):
        sample_mesh_file(path, "bad.off", count=10)
