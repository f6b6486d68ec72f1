"""Consistent face winding, so the face normals fed with ``data.normals=true`` agree in sign across a surface.

Many real meshes, ModelNet's among them, mix faces written clockwise and counter-clockwise, or come inside
out from a mirroring exporter. A face normal is the cross product of its edges, so there the sampled normals
flip sign from face to face, and the network is fed noise in channels 4-6. :func:`orient_faces` makes the
winding agree across every edge two faces share. Each edge-connected patch keeps the orientation most of its
faces were written in, and a closed mesh is then turned outward. Faces are only reversed, never removed, and
a mesh written consistently and outward comes back unchanged, so its samples are too.

trimesh's ``repair.fix_normals`` does the same in a Python loop over faces (5 s for 30,000 faces here). This
version is vectorised with one sparse breadth-first search, and takes milliseconds.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


def orient_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(F, 3)`` faces of ``(V, 3)`` vertices, some reversed so that the winding is consistent and outward.

    Vertices at the same position count as one (a triangle soup, as STL files store it, is stitched).
    An edge shared by more than two faces links none of them. A patch that cannot be oriented (a Moebius
    strip) keeps the breadth-first assignment. The outward turn uses the signed volume, and only on a
    closed mesh (every edge shared by exactly two faces), where that sign has a meaning.
    """
    faces = np.asarray(faces, dtype=np.int64)
    tri = _merged(np.asarray(vertices, dtype=np.float64))[faces]  # (F, 3) faces over merged vertices
    flip, closed = _winding_flips(tri)
    oriented = np.where(flip[:, None], faces[:, ::-1], faces)
    if closed and signed_volume(vertices, oriented) < 0:
        oriented = oriented[:, ::-1]
    return np.ascontiguousarray(oriented)


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by ``(F, 3)`` faces, positive when their normals point out (about the centroid)."""
    v = np.asarray(vertices, dtype=np.float64)
    v = v - v.mean(axis=0)
    a, b, c = (v[faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _merged(vertices: np.ndarray) -> np.ndarray:
    """``(V,)`` index of each vertex's first copy at the same position (an integer sort, not ``unique(axis=0)``)."""
    order = np.lexsort(vertices.T[::-1])
    new = np.ones(len(order), dtype=bool)
    new[1:] = (np.diff(vertices[order], axis=0) != 0).any(axis=1)
    first = order[new][np.cumsum(new) - 1]
    merged = np.empty(len(order), dtype=np.int64)
    merged[order] = first
    return merged


def _winding_flips(tri: np.ndarray) -> tuple[np.ndarray, bool]:
    """Which faces to reverse ``(F,)`` bool, and whether every edge is shared by exactly two faces."""
    count = len(tri)
    edges = np.stack([tri, np.roll(tri, -1, axis=1)], axis=2).reshape(-1, 2)  # (3F, 2) directed edges
    low, high = edges.min(axis=1), edges.max(axis=1)
    key = low * (int(tri.max()) + 1) + high  # one integer per undirected edge
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])  # first use of each edge
    uses = np.diff(np.r_[starts, len(key)])
    closed = bool((uses == 2).all())
    first = order[starts[uses == 2]]  # the two uses of each manifold edge, next to each other in order
    second = order[starts[uses == 2] + 1]
    forward = edges[:, 0] < edges[:, 1]
    disagree = forward[first] == forward[second]  # same direction along the edge: opposite windings
    if not disagree.any():  # consistent already (every mesh written right): nothing to search
        return np.zeros(count, dtype=bool), closed
    return _propagate(count, first // 3, second // 3, disagree), closed


def _propagate(count: int, faces_a: np.ndarray, faces_b: np.ndarray, disagree: np.ndarray) -> np.ndarray:
    """Flip parity per face from the pairwise (dis)agreements, by a breadth-first search of the face graph.

    A virtual node ``count`` links to the first face of every patch, so one search covers them all. Within
    a patch, the parity chosen is the one that leaves most faces as they were written.
    """
    low, high = np.minimum(faces_a, faces_b), np.maximum(faces_a, faces_b)
    _, first = np.unique(low * count + high, return_index=True)  # faces sharing two edges: one link
    weight = disagree[first].astype(np.int8) + 1  # 1: agree, 2: disagree (0 would be no edge)
    graph = sparse.coo_matrix((weight, (low[first], high[first])), shape=(count + 1, count + 1)).tocsr()
    patches, label = csgraph.connected_components(graph[:count, :count], directed=False)
    roots = np.unique(label, return_index=True)[1]
    link = sparse.coo_matrix((np.ones(patches, np.int8), (np.full(patches, count), roots)), shape=graph.shape)
    graph = (graph + graph.T + link + link.T).tocsr()
    order, up = csgraph.breadth_first_order(graph, count, directed=False, return_predecessors=True)
    up[count] = count
    parity = np.zeros(count + 1, dtype=bool)  # first: whether the link to the parent disagrees
    parity[order[1:]] = np.asarray(graph[up[order[1:]], order[1:]]).reshape(-1) == 2
    while (up != count).any():  # pointer jumping: parity becomes the XOR along the path to the root
        parity, up = parity ^ parity[up], up[up]
    parity = parity[:count]
    flipped_share = np.bincount(label, weights=parity, minlength=patches) / np.bincount(label, minlength=patches)
    return parity ^ (flipped_share[label] > 0.5)
