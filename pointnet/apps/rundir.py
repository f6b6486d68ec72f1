"""Resuming in the interrupted run's own dir without leaving a stub behind.

Hydra creates a fresh run dir (``.hydra/`` and ``train.log``) before the app knows it will resume
another run. ``move_into`` continues this process's log files in the real run dir (appending what was
already logged), keeps the resume command's ``.hydra/`` there as ``.hydra/resumes/<stub name>/``, and
removes the stub when nothing else is in it.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from pointnet.training import distributed as dist

log = logging.getLogger(__name__)


def _move_log_files(stub: Path, real: Path) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if (not isinstance(handler, logging.FileHandler)
                or Path(handler.baseFilename).resolve().parent != stub.resolve()):
            continue
        source = Path(handler.baseFilename)
        target = real / source.name
        handler.flush()
        moved = logging.FileHandler(target, mode="a", encoding=handler.encoding)
        moved.setLevel(handler.level)
        moved.setFormatter(handler.formatter)
        for f in handler.filters:
            moved.addFilter(f)
        root.removeHandler(handler)
        handler.close()
        with target.open("a", encoding="utf-8") as out:
            out.write(source.read_text(encoding="utf-8", errors="replace"))
        source.unlink()
        root.addHandler(moved)


def move_into(stub: Path, real: Path) -> None:
    """Continue in ``real`` instead of the fresh ``stub`` dir; every rank calls it (it has a barrier)."""
    stub, real = Path(stub), Path(real)
    if not stub.is_dir() or stub.resolve() == real.resolve():
        return
    _move_log_files(stub, real)
    dist.barrier()
    if not dist.is_main():
        return
    hydra_dir = stub / ".hydra"
    if hydra_dir.is_dir():
        kept = real / ".hydra" / "resumes" / f"{stub.parent.name}_{stub.name}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(hydra_dir), str(kept))
    try:
        os.rmdir(stub)
    except OSError:
        log.warning("left %s in place: it holds files other than Hydra's (%s)", stub,
                    ", ".join(sorted(p.name for p in stub.iterdir())))
