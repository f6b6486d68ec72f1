"""The default data set, offline: a deterministic procedural corpus in ModelNet's own layout and format.

``generate_synthetic(root)`` writes ``root/<class>/{train,test}/<class>_<NNNN>.off`` for the classes
of :mod:`pointnet.data.synthetic.furniture` (13 furniture-like classes, several of them look-alikes), each
mesh posed like a ModelNet file: a random rotation about the up axis only, arbitrary units and an
arbitrary offset. The OFF files vary the way real ModelNet files do, so the real reader is exercised:
some have the header fused with the counts (``OFF490 518 0``), some polygon faces (quads, n-gons),
some CRLF line endings, a comment or a non-zero edge count.

Every file depends only on ``(seed, class, split, index)``, never on the worker count. The corpus is
written into a hidden staging folder beside ``root`` and moved into place with a final rename, the
manifest ``.synthetic.json`` (parameters, every file and its size) written last inside it; a corpus
whose manifest is missing or disagrees is regenerated, so a half-written one is never used.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
import zlib
from functools import partial
from pathlib import Path

import numpy as np

from pointnet.data.atomic import atomic_write_text, swap_in_folder
from pointnet.data.errors import DatasetError
from pointnet.data.parallel import parallel_map
from pointnet.data.synthetic.furniture import BUILDERS
from pointnet.data.synthetic.primitives import PolyMesh, merge, rotation_z

SYNTHETIC_VERSION = 1
"""Bump when builders or file styles change, so existing corpora regenerate."""
SYNTHETIC_CLASSES: tuple[str, ...] = tuple(sorted(BUILDERS))
MANIFEST = ".synthetic.json"
SPLITS = ("train", "test")


def generate_synthetic(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    train_per_class: int = 40,
    test_per_class: int = 15,
    workers: int = 2,
    progress: bool = True,
    classes: list[str] | None = None,
) -> Path:
    """Write the corpus to ``root`` unless an identical complete one is there; return ``root``.

    Args:
        root: target folder; created, or replaced only if it holds an older or partial corpus.
        seed: the corpus is a pure function of it (and the counts).
        train_per_class, test_per_class: meshes per class in each split.
        workers: processes writing meshes.
        progress: show a progress bar (on an interactive terminal only).
        classes: a subset of :data:`SYNTHETIC_CLASSES` (default: all).

    Raises:
        DatasetError: ``root`` exists, holds something else, and is left untouched.
    """
    root = Path(root)
    names = sorted(classes) if classes is not None else list(SYNTHETIC_CLASSES)
    unknown = sorted(set(names) - set(SYNTHETIC_CLASSES))
    if unknown:
        raise ValueError(f"unknown synthetic classes {unknown}; known: {list(SYNTHETIC_CLASSES)}")
    spec = {"version": SYNTHETIC_VERSION, "seed": int(seed), "classes": names,
            "per_class": {"train": int(train_per_class), "test": int(test_per_class)}}
    if is_complete(root, spec):
        return root
    _check_replaceable(root, names)
    _remove_stale_staging(root)
    staging = root.parent / f".{root.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        files = _write_corpus(staging, spec, workers, progress)
        atomic_write_text(staging / MANIFEST, json.dumps({**spec, "files": files}, indent=1))
        if not is_complete(root, spec):
            swap_in_folder(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _write_corpus(staging: Path, spec: dict, workers: int, progress: bool) -> dict[str, int]:
    """Write every mesh into ``staging``; ``{relative path: size in bytes}``."""
    jobs = [(name, split, index) for name in spec["classes"] for split in SPLITS
            for index in range(1, spec["per_class"][split] + 1)]
    for name, split, _ in jobs:
        (staging / name / split).mkdir(parents=True, exist_ok=True)
    write = partial(_write_one, str(staging), spec["seed"])
    sizes = parallel_map(write, jobs, workers=workers, progress=progress, desc="synthetic meshes", unit="mesh")
    return dict(sizes)


def _write_one(staging: str, seed: int, job: tuple[str, str, int]) -> tuple[str, int]:
    """Build and write one mesh; returns its relative path and size (runs in a worker)."""
    name, split, index = job
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), SPLITS.index(split), index])
    mesh = synthetic_mesh(name, rng)
    style = rng.random(5)
    text = mesh.to_off(polygons=style[0] < 0.5, fused_header=style[1] < 0.15, crlf=style[2] < 0.1,
                       comment="synthetic ModelNet-style mesh" if style[3] < 0.1 else None,
                       edges=int(mesh.num_faces * 1.5) if style[4] < 0.1 else 0)
    relative = f"{name}/{split}/{name}_{index:04d}.off"
    path = Path(staging) / relative
    path.write_bytes(text.encode("ascii"))
    return relative, path.stat().st_size


def synthetic_mesh(name: str, rng: np.random.Generator) -> PolyMesh:
    """One posed mesh of class ``name``: built, turned about z, scaled to arbitrary units, offset."""
    mesh = merge(BUILDERS[name](rng))
    units = 10.0 ** rng.uniform(-0.5, 1.5)
    offset = rng.uniform(-0.5, 0.5, size=3) * units
    return mesh.rotated(rotation_z(rng.uniform(0.0, 2.0 * math.pi))).scaled(units).moved(offset)


def is_complete(root: Path, spec: dict) -> bool:
    """Whether ``root`` holds the corpus ``spec`` describes, every file present with its size."""
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if {key: manifest.get(key) for key in spec} != spec:
        return False
    try:
        return all((root / path).stat().st_size == size for path, size in manifest["files"].items())
    except (OSError, KeyError, AttributeError):
        return False


def _check_replaceable(root: Path, names: list[str]) -> None:
    """Refuse to replace a folder that is not (a partial or older version of) a synthetic corpus."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DatasetError(f"{root} exists and is not a folder; refusing to replace it")
    ours = set(SYNTHETIC_CLASSES) | {MANIFEST, ".cache"}
    foreign = sorted(entry.name for entry in os.scandir(root) if entry.name not in ours)
    if foreign and not (root / MANIFEST).exists():
        raise DatasetError(
            f"{root} exists and is not a synthetic corpus (it holds {foreign[:5]}); "
            "refusing to overwrite it: choose another folder or remove it"
        )


def _remove_stale_staging(root: Path, older_than_s: float = 600.0) -> None:
    """Delete staging folders of crashed runs (untouched for ``older_than_s``) beside ``root``."""
    cutoff = time.time() - older_than_s
    for stale in root.parent.glob(f".{root.name}.partial-*"):
        try:
            if stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass
