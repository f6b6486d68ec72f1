"""A user's own data set: ``<root>/<class>/*`` files, or ``<root>/<class>/{train,test}/*``.

Files in subfolders count too, keyed by their path (``chair/ikea/a.obj``), so layouts with a folder
per model (ShapeNet's ``<synset>/<model>/models/model_normalized.obj``) work as they are; hidden and
``_``-prefixed folders are skipped, and symlinked folders are not followed (no loops).

Each class folder may mix mesh files (OFF through the strict reader, OBJ/PLY/STL/GLB/GLTF through
trimesh) and point files (:mod:`pointnet.data.readers.point_files`). A class with ``train``/``test`` folders
uses them as its split. A class without them is split by :func:`split_of`: a file is a test file when
the hash of ``(split_seed, its root-relative path)`` falls below ``test_fraction``. That split is
stratified (each class is split on its own), seeded, and stable: adding or removing a file never
moves another between train and test. The one exception keeps tiny classes usable: a class of at
least two files whose hashes would put all of them on one side moves its extreme file (lowest hash
to test, or highest to train), so adding a file to such a class can move that one file back.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pointnet.data.datasets.cache import Source
from pointnet.data.datasets.layout import class_split_folder, discover_classes
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.readers.meshes import MESH_SUFFIXES, SCENE_SUFFIXES
from pointnet.data.readers.point_files import POINT_SUFFIXES, ply_has_faces, read_point_file, unit_normals
from pointnet.data.readers.sampling import mesh_seed, normalize, sample_mesh_file, to_z_up

FOLDER_MESH_SUFFIXES: tuple[str, ...] = (*MESH_SUFFIXES, *SCENE_SUFFIXES)
FOLDER_SUFFIXES: tuple[str, ...] = tuple(dict.fromkeys(FOLDER_MESH_SUFFIXES + POINT_SUFFIXES))
SPLITS: tuple[str, ...] = ("train", "test")


def split_score(key: str, split_seed: int) -> float:
    """A uniform number in ``[0, 1)`` fixed by ``split_seed`` and the file's relative path ``key``."""
    digest = hashlib.sha256(f"{int(split_seed)}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(keys: Sequence[str], test_fraction: float, split_seed: int) -> list[str]:
    """``"train"`` or ``"test"`` for each key of one class (see the module docstring)."""
    scores = [split_score(key, split_seed) for key in keys]
    splits = ["test" if score < test_fraction else "train" for score in scores]
    if len(keys) >= 2 and test_fraction > 0:
        if "test" not in splits:
            splits[int(np.argmin(scores))] = "test"
        if "train" not in splits:
            splits[int(np.argmax(scores))] = "train"
    return splits


def usable_files(folder: Path) -> list[str]:
    """``folder``-relative POSIX paths of the files with a known suffix in it and its subfolders, sorted.

    Hidden files, and hidden or ``_``-prefixed folders, are ignored; symlinked folders are not entered.
    """
    found = []
    for top, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith((".", "_"))]
        relative = Path(top).relative_to(folder)
        found += [(relative / name).as_posix() for name in files
                  if not name.startswith(".") and Path(name).suffix.lower() in FOLDER_SUFFIXES]
    return sorted(found)


def has_split_folders(class_folder: Path) -> bool:
    return any((class_folder / split).is_dir() for split in SPLITS)


def class_files(root: Path, name: str, split: str, test_fraction: float, split_seed: int) -> list[str]:
    """Root-relative keys of class ``name``'s files in ``split``; a class without any is an error."""
    class_folder = root / name
    if not class_folder.is_dir():
        raise DatasetError(f"class folder {class_folder} does not exist (class {name!r})")
    if has_split_folders(class_folder):
        folder = class_split_folder(root, name, split)
        files = usable_files(folder)
        keys = [f"{name}/{split}/{file}" for file in files]
    else:
        folder = class_folder
        files = usable_files(folder)
        every = [f"{name}/{file}" for file in files]
        sides = split_of(every, test_fraction, split_seed)
        keys = [key for key, side in zip(every, sides, strict=True) if side == split]
        if every and not keys:
            raise DatasetError(f"class folder {folder} has {len(every)} file(s), none in the {split} split "
                               f"(data.test_fraction={test_fraction}); add files or give it {split}/ folders")
    if not files:
        raise DatasetError(f"class folder {folder} has no usable files ({', '.join(FOLDER_SUFFIXES)})")
    return keys


def folder_sources(root: Path, split: str, *, classes: Sequence[str] | None = None, test_fraction: float = 0.2,
                   split_seed: int = 0, max_per_class: int | None = None) -> tuple[list[Source], list[str]]:
    """The ``split`` files of every class as sources (label = class position), and the class names."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} for a folder data set, got {split!r}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    names = discover_classes(root, classes)
    sources: list[Source] = []
    for label, name in enumerate(names):
        keys = class_files(root, name, split, test_fraction, split_seed)
        keys = keys[:max_per_class] if max_per_class is not None else keys
        sources += [Source(str(root / key), key, label) for key in keys]
    return sources, names


def is_point_file(path: Path) -> bool:
    """Point formats, and PLY files whose header announces no faces; everything else is a mesh."""
    suffix = path.suffix.lower()
    if suffix == ".ply":
        return ply_has_faces(path) == 0
    return suffix in POINT_SUFFIXES


def sample_point_file(path: str | os.PathLike, key: str, *, count: int, normals: bool = False,
                      up_axis: str = "z", seed: int = 0) -> np.ndarray:
    """At most ``count`` points of a point file, z up, normalised: ``(min(n, count), 3|6)`` float32.

    A file with more points gives a seeded random subset; one with fewer keeps every point once (the
    cache records the count, and draws never invent points). File normals are rescaled to unit length.
    """
    points = read_point_file(path)
    if normals and points.shape[1] != 6:
        raise MeshError("has no normals (3 columns) but data.normals=true needs x y z nx ny nz", path)
    points = unit_normals(points, path) if normals else points[:, :3]
    if len(points) > count:
        points = points[mesh_seed(seed, key).choice(len(points), count, replace=False)]
    try:
        return normalize(to_z_up(np.array(points, dtype=np.float64), up_axis))
    except MeshError as error:
        raise MeshError(error.reason, path) from None


def sample_folder_file(path: str | os.PathLike, key: str, *, count: int, normals: bool = False,
                       up_axis: str = "z", seed: int = 0) -> np.ndarray:
    """Prepare one file of a folder data set, mesh or point file: ``(count, 3|6)`` float32."""
    sample = sample_point_file if is_point_file(Path(path)) else sample_mesh_file
    return sample(path, key, count=count, normals=normals, up_axis=up_axis, seed=seed)
