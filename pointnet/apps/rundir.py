"""Finding the run to resume, and resuming in its own dir without leaving a stub behind.

``find_resume_checkpoint`` reads ``resume`` (false, a checkpoint or run dir, or true for the newest run
under this app's ``outputs/``).

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
from typing import Any

from hydra.core.hydra_config import HydraConfig

from pointnet.errors import ConfigError
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


def outputs_root(run_dir: Path) -> Path:
    """Where this app's runs live: ``outputs/`` of the launch folder under Hydra, else ``run_dir``'s grandparent.

    ``resume=true`` searches only here, so a custom ``hydra.run.dir`` never makes it pick another run.
    """
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd) / "outputs"
    return run_dir.parents[1]


def find_resume_checkpoint(resume: Any, root: Path, run_dir: Path) -> Path | None:
    """``resume``: false, a checkpoint file or run dir, or true for the newest ``root/*/*/last.pt``."""
    if resume is False or resume is None:
        return None
    if resume is True:
        candidates = [p for p in root.glob("*/*/last.pt") if p.parent != run_dir]
        if not candidates:
            raise ConfigError("resume", f"resume=true: no last.pt under {root} to resume from; "
                              "give resume=RUN_DIR instead")
        return max(candidates, key=lambda p: p.stat().st_mtime)
    path = Path(resume)
    return path / "last.pt" if path.is_dir() else path


def last_good(run_dir: Path) -> str:
    """How an error message names the checkpoint to go back to."""
    last = run_dir / "last.pt"
    return f"the last good checkpoint is {last}" if last.is_file() else f"no checkpoint was saved in {run_dir}"
