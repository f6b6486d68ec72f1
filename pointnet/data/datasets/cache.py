"""Prepare a split's dense point samples once; keep them in files that load without parsing.

Files per split and parameter set, in the cache folder (``<name>`` is ``<fmt>-<split>-<hash>``, the
hash covering every sampling parameter, so runs with other parameters keep their own cache):

- ``<name>.points.npy``: ``(M, P, 3|6)`` float32, opened memory-mapped (read-only);
- ``<name>.labels.npy``: ``(M,)`` int64;
- ``<name>.counts.npy``: ``(M,)`` int64, the points each shape really has (a point file may hold fewer
  than ``P``); rows past a shape's count repeat its own points cyclically and are never drawn;
- ``<name>.skipped.txt``: one ``path<TAB>reason`` line per source that could not be read;
- ``<name>.json``: the manifest, written **last**: :data:`CACHE_VERSION`, the parameters, every
  source file with its size and mtime, the classes, the kept and skipped files, and each array's
  shape, dtype, byte size and SHA-256.

A cache is used only if its manifest matches the current sources and parameters and every array
matches its recorded size and checksum; otherwise it is rebuilt (a changed, added or removed source,
a truncated or corrupted array, a crash between writes: the manifest is deleted before a rebuild
and every file is replaced atomically, see :mod:`pointnet.data.atomic`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pointnet.data.atomic import atomic_save_npy, atomic_write_text, remove_stale_temps, sha256_file
from pointnet.data.errors import DatasetError, MeshError
from pointnet.data.parallel import parallel_map
from pointnet.data.pointset import PointSet

CACHE_VERSION = 4
"""Bump whenever reading or sampling code changes what a cache holds: every old cache rebuilds."""

log = logging.getLogger("pointnet.data")

Prepare = Callable[[str, str], np.ndarray]
"""``prepare(path, key) -> (P, C)`` float32 for one source; raises MeshError for a bad one."""


@dataclass(frozen=True)
class Source:
    """One file to prepare: absolute ``path``, root-relative ``key`` (names it, seeds it), ``label``."""

    path: str
    key: str
    label: int


def cache_name(fmt: str, split: str, params: dict[str, Any]) -> str:
    """``<fmt>-<split>-<12 hex digits of the parameters' hash>``."""
    blob = json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True).encode("utf-8")
    return f"{fmt}-{split}-{hashlib.sha256(blob).hexdigest()[:12]}"


def source_stamps(sources: Sequence[Source]) -> list[list[Any]]:
    """``[key, size, mtime_ns]`` per source (``-1`` for a file that cannot be stat'ed)."""
    stamps = []
    for source in sources:
        try:
            stat = os.stat(source.path)
            stamps.append([source.key, stat.st_size, stat.st_mtime_ns])
        except OSError:
            stamps.append([source.key, -1, -1])
    return stamps


class SplitCache:
    """The files of one cached split: ``folder/<name>.{points.npy,labels.npy,skipped.txt,json}``."""

    def __init__(self, folder: str | os.PathLike, name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self.manifest_path = self.folder / f"{name}.json"
        self.points_path = self.folder / f"{name}.points.npy"
        self.labels_path = self.folder / f"{name}.labels.npy"
        self.counts_path = self.folder / f"{name}.counts.npy"
        self.skipped_path = self.folder / f"{name}.skipped.txt"

    def check(self, expected: dict[str, Any]) -> str | None:
        """Why this cache cannot be used for ``expected`` (a manifest subset), or ``None`` if it can."""
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "no manifest (never built, or a build did not finish)"
        except (OSError, ValueError) as error:
            return f"unreadable manifest ({error})"
        for key, value in expected.items():
            if manifest.get(key) != value:
                return f"{key} changed"
        for role, path in self.arrays():
            reason = _check_array(path, manifest.get("arrays", {}).get(role))
            if reason:
                return f"{path.name}: {reason}"
        return None

    def arrays(self) -> tuple[tuple[str, Path], ...]:
        """``(role, path)`` of each array file."""
        return ("points", self.points_path), ("labels", self.labels_path), ("counts", self.counts_path)

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Points (memory-mapped, read-only), labels, counts and manifest of a cache that passed :meth:`check`."""
        manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        points = np.load(self.points_path, mmap_mode="r", allow_pickle=False)
        labels = np.load(self.labels_path, allow_pickle=False)
        counts = np.load(self.counts_path, allow_pickle=False)
        return points, labels, counts, manifest

    def save(self, points: np.ndarray, labels: np.ndarray, counts: np.ndarray, manifest: dict[str, Any]) -> None:
        """Write arrays and the skipped list, then the manifest with their sizes and checksums."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.invalidate()
        remove_stale_temps(self.folder, self.name)
        arrays = {}
        values = {"points": points, "labels": labels, "counts": counts}
        for role, path in self.arrays():
            array = values[role]
            atomic_save_npy(path, array)
            arrays[role] = {
                "file": path.name,
                "shape": list(array.shape),
                "dtype": str(array.dtype),
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
            }
        lines = "".join(f"{path}\t{reason}\n" for path, reason in manifest["skipped"])
        atomic_write_text(self.skipped_path, lines)
        atomic_write_text(self.manifest_path, json.dumps({**manifest, "arrays": arrays}, indent=1))

    def invalidate(self) -> None:
        """Remove the manifest, so nothing uses the arrays until a build completes."""
        self.manifest_path.unlink(missing_ok=True)


def _check_array(path: Path, record: dict[str, Any] | None) -> str | None:
    if not record:
        return "not in the manifest"
    try:
        size = path.stat().st_size
    except OSError:
        return "missing"
    if size != record["bytes"]:
        return f"{size} bytes, manifest says {record['bytes']} (truncated or replaced)"
    if sha256_file(path) != record["sha256"]:
        return "checksum mismatch (corrupted)"
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        return f"unreadable ({error})"
    if list(array.shape) != record["shape"] or str(array.dtype) != record["dtype"]:
        return f"shape {array.shape} {array.dtype} differs from the manifest"
    return None


def cached_point_set(
    cache: SplitCache,
    sources: Sequence[Source],
    prepare: Prepare,
    params: dict[str, Any],
    classes: list[str],
    *,
    workers: int = 2,
    progress: bool = True,
    name: str = "",
) -> PointSet:
    """The prepared split: loaded from ``cache`` if valid, else prepared from ``sources`` and saved.

    A source whose ``prepare`` raises :class:`MeshError` is skipped and listed with its reason.
    """
    expected = {"version": CACHE_VERSION, "params": params, "classes": classes,
                "sources": source_stamps(sources)}
    reason = cache.check(expected)
    if reason is None:
        points, labels, counts, manifest = cache.load()
        skipped = [tuple(entry) for entry in manifest["skipped"]]
        return PointSet(points, labels, classes, manifest["files"], skipped, name, counts)
    log.info("preparing %s (%d files) into %s: %s", name, len(sources), cache.points_path, reason)
    start = time.perf_counter()
    points, labels, counts, files, skipped = _prepare_all(sources, prepare, workers, progress, name)
    manifest = {**expected, "files": files, "skipped": [list(entry) for entry in skipped],
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "build_seconds": round(time.perf_counter() - start, 3)}
    try:
        cache.save(points, labels, counts, manifest)
    except OSError as error:
        raise DatasetError(f"cannot write the cache in {cache.folder} ({error}); "
                           "choose another folder with cache_dir (data.cache_dir)") from error
    points, labels, counts, _ = cache.load()
    return PointSet(points, labels, classes, files, skipped, name, counts)


def _prepare_all(
    sources: Sequence[Source], prepare: Prepare, workers: int, progress: bool, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[tuple[str, str]]]:
    """Run ``prepare`` over every source: ``(K, P, C)`` points, ``(K,)`` labels and point counts, kept
    keys, skips. ``P`` is the largest count; a shorter cloud's rows repeat its points (:func:`fill_rows`)."""
    points: np.ndarray | None = None
    labels = np.empty(len(sources), dtype=np.int64)
    counts = np.empty(len(sources), dtype=np.int64)
    files: list[str] = []
    skipped: list[tuple[str, str]] = []
    results = parallel_map(partial(_prepare_one, prepare), sources, workers=workers,
                           progress=progress, desc=f"sampling {name}", unit="mesh")
    for source, (cloud, reason) in zip(sources, results, strict=True):
        if cloud is None:
            log.warning("skipped %s: %s", source.path, reason)
            skipped.append((source.path, str(reason)))  # a reason comes with every missing cloud
            continue
        if points is None or len(cloud) > points.shape[1]:
            points = _widened(points, len(sources), cloud, counts[: len(files)])
        points[len(files)] = fill_rows(cloud, points.shape[1])
        labels[len(files)], counts[len(files)] = source.label, len(cloud)
        files.append(source.key)
    if points is None:
        points = np.empty((0, 0, 3), dtype=np.float32)
    return points[: len(files)], labels[: len(files)], counts[: len(files)], files, skipped


def fill_rows(cloud: np.ndarray, rows: int) -> np.ndarray:
    """``cloud (n, C)`` as ``(rows, C)``, its points repeated cyclically past ``n``: padding that any
    reader of raw rows sees as the shape's own points, and that draws (which respect counts) never use."""
    return cloud if len(cloud) == rows else cloud[np.arange(rows) % len(cloud)]


def _widened(points: np.ndarray | None, total: int, cloud: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A ``(total, len(cloud), C)`` buffer holding the clouds already in ``points`` (their ``counts``)."""
    wider = np.empty((total, *cloud.shape), dtype=np.float32)
    if points is not None:  # else no cloud yet (``counts`` is empty)
        for i, count in enumerate(counts):
            wider[i] = fill_rows(points[i, :count], len(cloud))
    return wider


def _prepare_one(prepare: Prepare, source: Source) -> tuple[np.ndarray | None, str | None]:
    """``(cloud, None)``, or ``(None, reason)`` for a bad source file (runs in a worker)."""
    try:
        return prepare(source.path, source.key), None
    except MeshError as error:
        return None, error.reason


def require_readable(point_set: PointSet, folders: dict[str, Path], where: str, split: str = "") -> None:
    """Fail unless every class kept at least one shape; ``folders`` maps class -> folder to name.

    The error names each empty class's folder, the ``split`` and up to three of its skipped files with
    their reasons; ``where`` is the full list of skipped files.
    """
    side = f" of the {split} split" if split else ""
    if len(point_set) == 0:
        raise DatasetError(
            f"no readable shape in {where}: all {len(point_set.skipped)} files{side} were skipped"
            + "".join(f"\n  {path}: {reason}" for path, reason in point_set.skipped[:10])
        )
    empty = [name for name, count in point_set.class_counts().items() if count == 0]
    if empty:
        raise DatasetError("no readable shape" + side + " in " + "; ".join(
            _skipped_in(point_set.skipped, folders[name]) for name in empty) + f" (the full list: {where})")


def _skipped_in(skipped: list[tuple[str, str]], folder: Path) -> str:
    """``folder`` and up to three of the files skipped there, with their reasons."""
    own = [(path, reason) for path, reason in skipped if Path(path).is_relative_to(folder)]
    shown = ", ".join(f"{Path(path).relative_to(folder).as_posix()}: {reason}" for path, reason in own[:3])
    more = f", and {len(own) - 3} more" if len(own) > 3 else ""
    return f"{folder}: every one of its {len(own)} file(s) was skipped ({shown}{more})"
