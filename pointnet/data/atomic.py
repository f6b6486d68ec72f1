"""Atomic file and folder replacement, and file digests.

A file is written to a temporary file beside the target, flushed to disk, then renamed; a finished
folder is renamed over the old one. A reader therefore sees the old version or the complete new
one, never a half-written one; a crash leaves at most a hidden ``.<name>.tmp-*`` file or
``.<name>.old-*`` folder, which no reader opens. Checkpoints, caches, the synthetic corpus and
downloads all go through here.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

TEMP_MARK = ".tmp-"


def temp_path(path: Path) -> Path:
    """A unique hidden temporary name in ``path``'s folder (same file system, so rename is atomic)."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with what ``write(file)`` writes, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Create or replace a UTF-8 text file atomically."""
    atomic_write(path, lambda file: file.write(text.encode("utf-8")))


class _PlainWrites:
    """Only ``write``: NumPy then writes through it in chunks, whose errors carry errno (ENOSPC).

    On a real file NumPy uses ``tofile``, which reports a full disk as "N requested and M written"
    without an errno, so the user would not learn that the disk is full.
    """

    def __init__(self, file: BinaryIO) -> None:
        self.write = file.write


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` as a ``.npy`` file atomically (loadable with ``np.load(mmap_mode="r")``)."""
    atomic_write(path, lambda file: np.save(_PlainWrites(file), np.ascontiguousarray(array), allow_pickle=False))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (about 1 GB/s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def remove_stale_temps(folder: Path, name: str, older_than_s: float = 600.0) -> None:
    """Delete leftovers ``.<name>*.tmp-*`` of crashed writers; a live writer keeps touching its file."""
    cutoff = time.time() - older_than_s
    for tmp in folder.glob(f".{name}*{TEMP_MARK}*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except OSError:
            pass


def swap_in_folder(finished: Path, target: Path) -> None:
    """Move the ``finished`` folder to ``target``, replacing what was there (renamed aside, then removed)."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(finished, target)
