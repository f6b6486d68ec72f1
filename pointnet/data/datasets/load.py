"""``load_split``: one call from a data set on disk to a prepared :class:`PointSet`, in any format."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pointnet.data.datasets.cache import Prepare, SplitCache, cache_name, cached_point_set, require_readable
from pointnet.data.datasets.folder import folder_sources, sample_folder_file
from pointnet.data.datasets.formats import SUBSETS, read_h5_split, read_resampled_file, resampled_sources
from pointnet.data.datasets.layout import discover_classes, list_meshes
from pointnet.data.pointset import PointSet
from pointnet.data.readers.sampling import check_up_axis, sample_mesh_file
from pointnet.data.settings import DataSettings
from pointnet.data.synthetic.corpus import generate_synthetic

log = logging.getLogger("pointnet.data")

FORMATS: tuple[str, ...] = ("meshes", "h5", "resampled", "folder")
CACHE_FOLDER = ".cache"
"""Default cache location inside the data set root (hidden, so it is never taken for a class)."""


def load_split(fmt: str, root: str | os.PathLike, split: str, *, dense_points: int = 2048, normals: bool = False,
               up_axis: str = "z", cache_dir: str | os.PathLike | None = None, max_per_class: int | None = None,
               classes: Sequence[str] | None = None, workers: int = 2, progress: bool = True,
               resampled_lists: str = "modelnet40", seed: int = 0, test_fraction: float = 0.2,
               split_seed: int = 0) -> PointSet:
    """Load (preparing and caching on first use) one split of a data set.

    Args:
        fmt: ``"meshes"`` (ModelNet OFF layout ``<root>/<class>/<split>/*.off``, also the synthetic
            set), ``"h5"`` (``modelnet40_ply_hdf5_2048``), ``"resampled"``
            (``modelnet40_normal_resampled``) or ``"folder"`` (a user's own ``<root>/<class>/*`` or
            ``<root>/<class>/{train,test}/*``, meshes and point files mixed, see :mod:`pointnet.data.datasets.folder`).
        root: the data set folder.
        split: ``"train"`` or ``"test"`` (for meshes: any split folder name).
        dense_points: points kept per shape (``P``); training draws its ``N <= P`` from these.
        normals: also keep normals, ``(M, P, 6)``.
        up_axis: the *source's* up axis, ``"x"``, ``"y"`` (h5, resampled, many real sets) or ``"z"``
            (ModelNet OFF); results are always z up.
        cache_dir: where prepared splits are stored; ``None`` means ``<root>/.cache``. Unused for h5.
        max_per_class: keep the first K shapes per class (sorted file order / list order).
        classes: fixes the class list and label order (pass train's classes when loading test).
        workers: processes for preparation (sampling or text parsing).
        progress: show a progress bar while preparing.
        resampled_lists: ``"modelnet40"`` or ``"modelnet10"`` split lists (resampled only).
        seed: seeds the per-mesh surface sampling (meshes and folder).
        test_fraction: folder classes without split folders: the share of files hashed to test.
        split_seed: folder only: seeds that hash (the split is stable as files are added).

    Raises:
        DatasetError: missing root or split, empty class folder, no readable shape in a class.
        ValueError: an invalid argument.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown data format {fmt!r}; choose one of {FORMATS}")
    if dense_points < 1:
        raise ValueError(f"dense_points must be >= 1, got {dense_points}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be None or >= 1, got {max_per_class}")
    if resampled_lists not in SUBSETS:
        raise ValueError(f"resampled_lists must be one of {SUBSETS}, got {resampled_lists!r}")
    check_up_axis(up_axis)
    root = Path(root).expanduser()
    if fmt == "h5":
        return read_h5_split(root, split, dense_points=dense_points, normals=normals, up_axis=up_axis,
                             classes=classes, max_per_class=max_per_class)
    sources, names, prepare, folders, extra = _split_sources(
        fmt, root, split, dense_points=dense_points, normals=normals, up_axis=up_axis, classes=classes,
        max_per_class=max_per_class, resampled_lists=resampled_lists, seed=seed, test_fraction=test_fraction,
        split_seed=split_seed)
    params = {"fmt": fmt, "root": str(root.resolve()), "split": split, "dense_points": dense_points,
              "normals": bool(normals), "up_axis": up_axis, "max_per_class": max_per_class,
              "subset": resampled_lists if fmt == "resampled" else None, **extra}  # "subset": as caches name it
    cache = SplitCache(Path(cache_dir) if cache_dir is not None else default_cache_dir(root),
                       cache_name(fmt, split, {**params, "classes": names}))
    point_set = cached_point_set(cache, sources, prepare, params, names, workers=workers,
                                 progress=progress, name=f"{fmt}:{root}/{split}")
    require_readable(point_set, folders, str(cache.skipped_path), split)
    return point_set


def default_cache_dir(root: Path) -> Path:
    """``<root>/.cache``, or where the data set's folder cannot be written (a read-only mount, a shared
    archive), a folder of its own under the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    beside = root / CACHE_FOLDER
    try:
        beside.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=beside):
            return beside
    except OSError:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:12]
        log.info("cannot write %s; caching in %s (data.cache_dir chooses)", beside, home / "pointnet" / digest)
        return home / "pointnet" / digest


def _split_sources(fmt: str, root: Path, split: str, *, dense_points: int, normals: bool, up_axis: str,
                   classes: Sequence[str] | None, max_per_class: int | None, resampled_lists: str, seed: int,
                   test_fraction: float, split_seed: int) -> tuple[list, list[str], Prepare, dict[str, Path], dict]:
    """Sources, class names, the per-file ``prepare``, class folders and the format's own cache parameters."""
    sampled: dict[str, Any] = dict(count=dense_points, normals=normals, up_axis=up_axis)
    if fmt == "meshes":
        names = discover_classes(root, classes)
        sources = list_meshes(root, split, names, max_per_class)
        return (sources, names, partial(sample_mesh_file, **sampled, seed=seed),
                {name: root / name / split for name in names}, {"seed": seed})
    if fmt == "folder":
        sources, names = folder_sources(root, split, classes=classes, test_fraction=test_fraction,
                                        split_seed=split_seed, max_per_class=max_per_class)
        return (sources, names, partial(sample_folder_file, **sampled, seed=seed),
                {name: root / name for name in names},
                {"seed": seed, "folder_split": {"test_fraction": test_fraction, "split_seed": split_seed}})
    sources, names = resampled_sources(root, split, subset=resampled_lists, classes=classes,
                                       max_per_class=max_per_class)
    return (sources, names, partial(read_resampled_file, **sampled), {name: root / name for name in names},
            {"seed": None})


def ensure_data(root: str | Path, generate: bool, seed: int, train_per_class: int, test_per_class: int,
                workers: int = 2) -> Path:
    """The data set folder; the procedural set is generated there first when ``generate`` is set."""
    root = Path(root)
    if generate:
        generate_synthetic(root, seed=seed, train_per_class=train_per_class, test_per_class=test_per_class,
                           workers=workers)
    return root


def load_data(settings: DataSettings, progress: bool = True) -> tuple[PointSet, PointSet]:
    """Generate the procedural set first when ``settings.generate`` is set, then prepare (or read from cache)
    the train and test point sets, test in train's class order."""
    s = settings.synthetic
    root = ensure_data(settings.root, settings.generate, s.seed, s.train_per_class, s.test_per_class,
                       settings.workers)
    options = {**settings.split_options(), "progress": progress}
    train = load_split(settings.format, root, "train", **options)
    test = load_split(settings.format, root, "test", **options, classes=train.classes)
    return train, test
