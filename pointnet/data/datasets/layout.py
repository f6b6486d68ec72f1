"""The ModelNet folder layout: ``<root>/<class>/<split>/<class>_<NNNN>.off``.

Class names are the sub-folders of ``root``, sorted, unless ``<root>/shape_names.txt`` (one name per
line) or the caller fixes the list and its order. Hidden folders (``.cache``) and ``__MACOSX`` are
not classes. Every listed class must have the split folder with at least one mesh file in it;
otherwise :class:`DatasetError` names the folder to fix.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pointnet.data.datasets.cache import Source
from pointnet.data.errors import DatasetError
from pointnet.data.readers.meshes import MESH_SUFFIXES

SHAPE_NAMES = "shape_names.txt"


def read_names(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a name list such as ``shape_names.txt``, stripped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"cannot read name list {path}: {error}") from None
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise DatasetError(f"name list {path} is empty")
    return names


def check_root(root: Path) -> Path:
    """``root`` if it is an existing folder, else a :class:`DatasetError` naming it."""
    if not root.exists():
        raise DatasetError(f"data set folder {root} does not exist")
    if not root.is_dir():
        raise DatasetError(f"data set path {root} is not a folder")
    return root


def discover_classes(root: Path, classes: Sequence[str] | None = None) -> list[str]:
    """Class names in label order: ``classes`` if given, else ``shape_names.txt``, else sorted folders."""
    check_root(root)
    if classes is not None:
        names = [str(name) for name in classes]
        source = "the classes argument"
    elif (root / SHAPE_NAMES).is_file():
        names = read_names(root / SHAPE_NAMES)
        source = str(root / SHAPE_NAMES)
    else:
        names = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and _is_class(entry.name))
        source = str(root)
    if not names:
        raise DatasetError(f"no class folders in {root}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DatasetError(f"duplicate class names {duplicates} in {source}")
    return names


def _is_class(name: str) -> bool:
    return not name.startswith((".", "_"))


def list_meshes(
    root: Path, split: str, classes: Sequence[str], max_per_class: int | None = None
) -> list[Source]:
    """Mesh files of ``split`` for every class (label = position in ``classes``), sorted by name.

    ``max_per_class`` keeps the first K files of each class. Raises DatasetError for a missing class
    or split folder, or a split folder without mesh files.
    """
    sources: list[Source] = []
    for label, name in enumerate(classes):
        folder = class_split_folder(root, name, split)
        files = sorted(
            entry.name for entry in os.scandir(folder)
            if entry.is_file() and Path(entry.name).suffix.lower() in MESH_SUFFIXES
        )
        if not files:
            raise DatasetError(f"empty class folder {folder}: no mesh files ({', '.join(MESH_SUFFIXES)})")
        files = files[:max_per_class] if max_per_class is not None else files
        sources += [Source(str(folder / file), f"{name}/{split}/{file}", label) for file in files]
    return sources


def class_split_folder(root: Path, name: str, split: str) -> Path:
    """``root/name/split``, checked to exist; errors name the missing folder."""
    class_folder = root / name
    if not class_folder.is_dir():
        raise DatasetError(f"class folder {class_folder} does not exist (class {name!r})")
    folder = class_folder / split
    if not folder.is_dir():
        raise DatasetError(f"missing split folder {folder} (class {name!r}, split {split!r})")
    return folder
