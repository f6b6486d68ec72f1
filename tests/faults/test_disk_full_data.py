"""Disk full while writing TensorBoard events or the point cache: one clear line, earlier files intact.

Each test mounts a small tmpfs (root only); it is skipped only where the kernel refuses the mount.
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pointnet.data import DatasetError, load_split
from pointnet.training.checkpoint import load_checkpoint
from tests.helpers import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A tmpfs of ``size`` mounted at ``path`` for the block (skips the test where mounting is forbidden)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_under_tensorboard_events_is_one_line_and_checkpoints_stay(tiny_data, tmp_path, fault_log):
    run_dir = tmp_path / "run"
    with tmpfs(run_dir / "tensorboard", "16k"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
        result = subprocess.run([sys.executable, "-m", "pointnet.apps.train", *tiny_overrides(tiny_data),
                                 f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=300)
    last = result.stderr.strip().splitlines()[-1]
    clear = (result.returncode == 1 and "Traceback" not in result.stderr
             and last == f"error: cannot write TensorBoard events in {run_dir / 'tensorboard'}: No space left on device")
    # the run's first events (HParams, layout, config text) go out before epoch 1: every checkpoint left,
    # if any, must load
    intact = all(load_checkpoint(path)["progress"]["epoch"] >= 1 for path in run_dir.glob("*.pt"))
    fault_log("disk_full_events", survived=clear and intact, data_lost=not intact)
    assert clear, result.stderr[-3000:]
    assert intact


def test_full_disk_under_the_cache_is_refused_and_the_cache_that_fit_stays(tiny_data, tmp_path, fault_log, caplog):
    with tmpfs(tmp_path / "cache", "96k") as cache:
        small = load_split("meshes", tiny_data, "test", dense_points=16, cache_dir=cache, workers=1, progress=False)
        with pytest.raises(DatasetError, match=rf"cannot write the cache in {cache} .*No space left on device"):
            load_split("meshes", tiny_data, "test", dense_points=2048, cache_dir=cache, workers=1, progress=False)
        leftovers = [p.name for p in cache.iterdir() if ".tmp-" in p.name]
        with caplog.at_level(logging.INFO, logger="pointnet.data"):
            again = load_split("meshes", tiny_data, "test", dense_points=16, cache_dir=cache, workers=1,
                               progress=False)
        rebuilt = any("preparing" in r.getMessage() for r in caplog.records)
        same = np.array_equal(np.asarray(small.points), np.asarray(again.points))
    fault_log("disk_full_cache", survived=same and not rebuilt and not leftovers, data_lost=not same)
    assert leftovers == [] and not rebuilt and same
