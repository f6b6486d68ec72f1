"""Face winding made consistent and outward before normals are sampled: mixed windings, inside-out files,
triangle soups, open patches, nested shells, non-manifold edges, and the data-set and predict paths."""
import numpy as np
import pytest
import trimesh

from pointnet.data.datasets.inputs import Preprocessing, load_points
from pointnet.data.readers.orientation import orient_faces, signed_volume
from pointnet.data.synthetic.primitives import box, ellipsoid, merge
from pointnet.data.readers.sampling import sample_mesh_file, sample_surface


def face_normals(vertices, faces):
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return np.cross(b - a, c - a)


def outward_share(vertices, faces, center=(0.0, 0.0, 0.0)):
    """Share of faces whose normal points away from ``center`` (all of them, for a convex closed shape)."""
    centroids = vertices[faces].mean(axis=1) - np.asarray(center)
    return float((np.einsum("ij,ij->i", face_normals(vertices, faces), centroids) > 0).mean())


def mixed(faces, share=0.4, seed=0):
    """``faces`` with a random ``share`` of them reversed."""
    flip = np.random.default_rng(seed).random(len(faces)) < share
    return np.where(flip[:, None], faces[:, ::-1], faces)


def every_fourth(faces):
    """``faces`` with every fourth one reversed: a minority in any patch, so the written majority is known."""
    out = faces.copy()
    out[::4] = out[::4, ::-1]
    return out


def sphere():
    mesh = ellipsoid((1.0, 0.7, 0.5), subdivisions=3)
    return mesh.vertices, mesh.triangles()


def test_a_consistent_outward_mesh_comes_back_unchanged():
    vertices, faces = sphere()
    assert outward_share(vertices, faces) == 1.0
    assert np.array_equal(orient_faces(vertices, faces), faces)


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_mixed_windings_come_out_consistent_and_outward(share):
    vertices, faces = sphere()
    bad = mixed(faces, share)
    assert 0.0 < outward_share(vertices, bad) < 1.0
    fixed = orient_faces(vertices, bad)
    assert outward_share(vertices, fixed) == 1.0
    assert sorted(map(tuple, np.sort(fixed, axis=1))) == sorted(map(tuple, np.sort(faces, axis=1)))  # same faces


def test_an_inside_out_closed_mesh_is_turned_outward():
    vertices, faces = sphere()
    assert signed_volume(vertices, faces[:, ::-1]) < 0
    fixed = orient_faces(vertices, faces[:, ::-1])
    assert outward_share(vertices, fixed) == 1.0 and signed_volume(vertices, fixed) > 0


def test_a_triangle_soup_is_stitched_by_position():
    vertices, faces = sphere()
    bad = mixed(faces, 0.5, seed=1)
    soup = vertices[bad].reshape(-1, 3)  # every face its own three vertices, as STL stores them
    soup_faces = np.arange(len(soup)).reshape(-1, 3)
    assert outward_share(soup, orient_faces(soup, soup_faces)) == 1.0


def test_an_open_patch_agrees_with_the_winding_most_of_it_was_written_in():
    vertices, faces = sphere()
    upper = faces[vertices[faces].mean(axis=1)[:, 2] > 0.1]  # a cap: open, so volume says nothing
    inward = upper[:, ::-1]
    for written, expected in ((mixed(upper, 0.3), 1.0), (mixed(inward, 0.3), 0.0)):
        assert outward_share(vertices, orient_faces(vertices, written)) == expected


def test_nested_shells_keep_the_cavity_facing_inward():
    """A hollow box: the outer shell faces out, the inner shell faces into the cavity (away from the solid)."""
    outer, inner = box((2.0, 2.0, 2.0)), box((1.0, 1.0, 1.0))
    inner_faces = inner.triangles()[:, ::-1] + len(outer.vertices)
    vertices = np.concatenate([outer.vertices, inner.vertices])
    faces = np.concatenate([outer.triangles(), inner_faces])
    assert signed_volume(vertices, faces) == pytest.approx(8.0 - 1.0)
    assert np.array_equal(orient_faces(vertices, faces), faces)
    fixed = orient_faces(vertices, every_fourth(faces))
    n_outer = len(outer.triangles())
    assert outward_share(vertices, fixed[:n_outer]) == 1.0 and outward_share(vertices, fixed[n_outer:]) == 0.0


def test_a_non_manifold_edge_links_nothing_but_each_side_is_still_oriented():
    """Two boxes sharing one edge (4 faces on it): each box on its own comes out outward."""
    a, b = box((1.0, 1.0, 1.0), (0.5, 0.5, 0.5)), box((1.0, 1.0, 1.0), (-0.5, -0.5, 0.5))
    both = merge([a, b])
    vertices, faces = both.vertices, every_fourth(both.triangles())
    fixed = orient_faces(vertices, faces)
    of_a = fixed.max(axis=1) < len(a.vertices)  # merge() keeps each box's own vertices
    assert outward_share(vertices, fixed[of_a], (0.5, 0.5, 0.5)) == 1.0
    assert outward_share(vertices, fixed[~of_a], (-0.5, -0.5, 0.5)) == 1.0


def radial_agreement(cloud):
    """Share of sampled normals pointing away from the centre (every one, for a convex shape)."""
    return float((np.einsum("ij,ij->i", cloud[:, :3], cloud[:, 3:]) > 0).mean())


def test_sampled_normals_of_a_mixed_file_point_out_in_data_sets_and_predict(tmp_path):
    vertices, faces = sphere()
    path = tmp_path / "mixed.obj"
    trimesh.Trimesh(vertices, mixed(faces, 0.5), process=False).export(path)
    cloud = sample_mesh_file(path, "mixed.obj", count=2048, normals=True)
    assert cloud.shape == (2048, 6) and radial_agreement(cloud) == 1.0
    assert radial_agreement(load_points(path, Preprocessing(512, "z", normals=True))) == 1.0
    written = trimesh.Trimesh(vertices, mixed(faces, 0.5), process=False)
    assert radial_agreement(sample_surface(written, 512, normals=True, rng=0)) == 1.0


def test_orienting_leaves_a_consistent_meshs_samples_bit_identical():
    vertices, faces = sphere()
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    with_normals = sample_surface(mesh, 1000, normals=True, rng=5)
    assert np.array_equal(with_normals[:, :3], sample_surface(mesh, 1000, rng=5))
