"""Faults in prepared data: kill -9 while preparing or generating, corrupted or stale caches, a cache
deleted under a running evaluation. Each is detected and rebuilt (or refused in one line), and nothing
half-written is ever read as good data: whatever is read equals a clean build.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pointnet.data import load_split
from pointnet.data.datasets.cache import SplitCache
from pointnet.data.synthetic.corpus import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
DENSE = 64  # the session's tiny runs sample 64 points per shape
KILLS = 3


def load(root: Path, cache: Path, split: str = "test"):
    return load_split("meshes", root, split, dense_points=DENSE, cache_dir=cache, workers=1, progress=False)


def manifests_point_at_good_arrays(cache: Path) -> bool:
    """Every manifest left in ``cache`` describes arrays that match their recorded size and checksum."""
    return all(SplitCache(cache, m.name[: -len(".json")]).check({}) is None for m in cache.glob("*.json"))


def watch(command: list[str], started: Callable[[], bool], cwd: Path, kill_after: float | None = None,
          done: Callable[[], bool] = lambda: False) -> float:
    """Run ``command``; once ``started()`` holds (files appear), SIGKILL it ``kill_after`` s later (None: never).

    Returns the seconds from ``started()`` until ``done()`` held (or the process ended): the window
    in which a kill hits the writing.
    """
    process = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not started() and process.poll() is None:
        time.sleep(0.002)
    seen = time.perf_counter()
    if kill_after is None:
        while not done() and process.poll() is None:
            time.sleep(0.002)
        finished = time.perf_counter()
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
        return finished - seen
    else:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    return time.perf_counter() - seen


def test_kill_9_during_cache_preparation_never_leaves_a_cache_read_as_good(tiny_data, tmp_path, fault_log):
    reference = {s: np.asarray(load(tiny_data, tmp_path / "ref", s).points) for s in ("train", "test")}

    def prepare(cache: Path) -> list[str]:
        return [sys.executable, "-m", "pointnet.apps.prepare", f"data.root={tiny_data}", "data.generate=false",
                f"data.dense_points={DENSE}", "data.num_points=32", "data.workers=1", f"data.cache_dir={cache}",
                f"hydra.run.dir={cache}.run"]

    def writing(cache: Path) -> Callable[[], bool]:
        return lambda: cache.is_dir() and any(cache.iterdir())

    timing = tmp_path / "timing"
    window = watch(prepare(timing), writing(timing), tmp_path, done=lambda: len(list(timing.glob("*.json"))) == 2)
    rng = random.Random(12)
    for trial in range(KILLS):
        cache, delay = tmp_path / f"kill{trial}", rng.uniform(0.0, 1.0) * window
        watch(prepare(cache), writing(cache), tmp_path, kill_after=delay)
        left = sorted(m.name for m in cache.glob("*.json")) if cache.exists() else []
        good = not cache.exists() or manifests_point_at_good_arrays(cache)
        same = all(np.array_equal(np.asarray(load(tiny_data, cache, s).points), reference[s]) for s in reference)
        fault_log("kill9_prepare", survived=good and same, data_lost=not same, seconds=round(delay, 3),
                  manifests_left=len(left))
        assert good and same, (trial, delay, left)


def corpus_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.off"))}


def test_kill_9_during_synthetic_generation_leaves_no_partial_corpus(tmp_path, fault_log):
    def generate(root: Path) -> list[str]:
        return [sys.executable, "-m", "pointnet.apps.make_synthetic", "--root", str(root), "--train-per-class", "2",
                "--test-per-class", "1", "--workers", "1", "--quiet"]

    def staging(root: Path) -> Callable[[], bool]:
        return lambda: root.exists() or any(root.parent.glob(f".{root.name}.partial-*"))

    (tmp_path / "ref").mkdir()
    ref = tmp_path / "ref" / "synthetic"
    window = watch(generate(ref), staging(ref), tmp_path, done=lambda: (ref / MANIFEST).exists())
    reference = corpus_digest(tmp_path / "ref" / "synthetic")
    assert reference, "the clean run wrote no corpus: the command is wrong, and every trial would pass vacuously"
    rng = random.Random(13)
    for trial in range(KILLS):
        root, delay = tmp_path / f"kill{trial}" / "synthetic", rng.uniform(0.0, 1.0) * window
        root.parent.mkdir()
        watch(generate(root), staging(root), tmp_path, kill_after=delay)
        existed = root.exists()
        whole = not existed or corpus_digest(root) == reference
        same = True
        if trial == KILLS - 1:  # one regeneration over what a kill left: the same corpus as a clean run
            watch(generate(root), staging(root), tmp_path)
            same = corpus_digest(root) == reference and (root / MANIFEST).is_file()
        fault_log("kill9_synthetic", survived=whole and same, data_lost=not whole, seconds=round(delay, 3),
                  existed=existed)
        assert whole and same, (trial, delay)


def flip_byte(path: Path, where: float) -> None:
    data = bytearray(path.read_bytes())
    index = len(data) - 1 - int(where * (len(data) // 2))  # in the array data, past the .npy header
    data[index] ^= 0x10
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def stale_manifest(path: Path) -> None:
    manifest = path.with_name(path.name.replace(".points.npy", ".json"))
    data = json.loads(manifest.read_text())
    data["sources"][0][2] += 1  # the first source's mtime no longer matches the file
    manifest.write_text(json.dumps(data))


def torn_manifest(path: Path) -> None:
    manifest = path.with_name(path.name.replace(".points.npy", ".json"))
    manifest.write_bytes(manifest.read_bytes()[:100])


CORRUPTIONS = {
    "cache_truncated": (truncate, "truncated or replaced"),
    "cache_bitflip_points": (lambda p: flip_byte(p, 0.3), "checksum mismatch"),
    "cache_bitflip_labels": (lambda p: flip_byte(p.with_name(p.name.replace("points", "labels")), 0.0),
                             "checksum mismatch"),
    "cache_manifest_mismatch": (stale_manifest, "sources changed"),
    "cache_manifest_torn": (torn_manifest, "unreadable manifest"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_corrupted_or_stale_cache_is_detected_reported_and_rebuilt(tiny_data, tmp_path, kind, fault_log, caplog):
    corrupt, reason = CORRUPTIONS[kind]
    cache = tmp_path / "cache"
    clean = load(tiny_data, cache)
    reference = (np.array(clean.points), np.array(clean.labels))
    del clean
    corrupt(next(cache.glob("*.points.npy")))
    with caplog.at_level(logging.INFO, logger="pointnet.data"):
        again = load(tiny_data, cache)
    reported = any(reason in r.getMessage() for r in caplog.records)
    same = np.array_equal(np.asarray(again.points), reference[0]) and np.array_equal(again.labels, reference[1])
    fault_log(kind.rsplit("_", 1)[0] if "bitflip" in kind else kind, survived=reported and same, data_lost=not same)
    assert reported, [r.getMessage() for r in caplog.records]
    assert same and manifests_point_at_good_arrays(cache)


def test_cache_deleted_under_a_running_evaluation(trained_run, tmp_path, fault_log):
    def evaluate(cache: Path, out: Path) -> list[str]:
        return [sys.executable, "-m", "pointnet.apps.evaluate", f"checkpoint={trained_run / 'last.pt'}",
                f"data.cache_dir={cache}", "runtime.threads=1", f"hydra.run.dir={out}"]

    built = tmp_path / "cache"
    full = watch(evaluate(built, tmp_path / "ref"), lambda: True, tmp_path)  # also builds the cache
    expected = json.loads((tmp_path / "ref" / "eval.json").read_text())["acc"]
    rng = random.Random(14)
    for trial in range(2):
        out, delay = tmp_path / f"eval{trial}", rng.uniform(0.2, 0.9) * full
        cache = shutil.copytree(built, tmp_path / f"cache{trial}")
        process = subprocess.Popen(evaluate(cache, out), cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        shutil.rmtree(cache, ignore_errors=True)
        _, stderr = process.communicate(timeout=300)
        if process.returncode == 0:
            ok = json.loads((out / "eval.json").read_text())["acc"] == expected
        else:
            ok = process.returncode == 1 and stderr.strip().splitlines()[-1].startswith("error: ") \
                and "Traceback" not in stderr
        good = not cache.exists() or manifests_point_at_good_arrays(cache)
        fault_log("cache_deleted_during_eval", survived=ok and good, data_lost=not good, seconds=round(delay, 2),
                  exit_code=process.returncode)
        assert ok and good, (trial, delay, process.returncode, stderr[-2000:])
