"""Real processes for the fault suite: ``python -m pointnet.apps.train`` (and eval, predict, torchrun)
on the tiny data set with one thread, started, watched, signalled and killed like a user or a
scheduler would."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from pointnet.training.checkpoint import load_checkpoint
from tests.helpers import tiny_overrides

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EPOCHS = 4
STARTED = "data synthetic:"  # logged once the signal handlers are in place and the data is loaded


def env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0",
            "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def train_args(data: Path, run_dir: Path, *extra: str) -> list[str]:
    return [*tiny_overrides(data, f"train.epochs={EPOCHS}", "data.val_fraction=0.25"), f"hydra.run.dir={run_dir}",
            *extra]


def app(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"pointnet.apps.{name}", *args]


class Process:
    """A started command whose output (stdout and stderr together) is collected by a thread."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(command, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self.started_at = time.monotonic()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120.0) -> bool:
        """True once ``text`` was printed; False if the process ended (or timed out) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            if self.proc.poll() is not None:
                self.reader.join(5)
                return text in self.output
            time.sleep(0.02)
        return False

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 120.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise
        self.reader.join(5)
        return code


def run(command: list[str], cwd: Path, timeout: float = 180.0) -> tuple[int, str]:
    p = Process(command, cwd)
    return p.wait(timeout), p.output


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def unreadable_checkpoints(run_dir: Path) -> list[str]:
    """Names of the ``*.pt`` files in ``run_dir`` that do not load (weights_only, checksum)."""
    bad = []
    for path in sorted(run_dir.glob("*.pt")):
        try:
            load_checkpoint(path)
        except Exception as exc:
            bad.append(f"{path.name}: {exc}")
    return bad


def progress(run_dir: Path) -> tuple[int, int, int] | None:
    """(epoch, batch, global_step) of ``run_dir/last.pt``, None without one."""
    if not (run_dir / "last.pt").is_file():
        return None
    p = load_checkpoint(run_dir / "last.pt")["progress"]
    return p["epoch"], p["batch"], p["global_step"]


def start_or_resume(data: Path, run_dir: Path, attempt: int) -> Process:
    """Continue ``run_dir`` (from a fresh Hydra dir beside it) or, with no ``last.pt`` yet, start it again."""
    if (run_dir / "last.pt").is_file():
        return Process(app("train", *train_args(data, run_dir.parent / f"resume{attempt}", f"resume={run_dir}")),
                       run_dir.parent)
    return Process(app("train", *train_args(data, run_dir)), run_dir.parent)


def random_targets(rng: random.Random, count: int, steps: int) -> list[float]:
    """``count`` sorted training positions (in steps, fractional) over an uninterrupted run's steps, one uniform
    in each of ``count`` equal stretches, so even a short chain strikes early, middle and late epochs."""
    return [rng.uniform(i * steps / count, (i + 1) * steps / count) for i in range(count)]


def steps_done(run_dir: Path) -> int:
    """Training steps ``last.pt`` of ``run_dir`` has done (0 before the first checkpoint)."""
    return (progress(run_dir) or (0, 0, 0))[2]


def wait_for_step(p: Process, run_dir: Path, step: int, timeout: float = 120.0) -> int:
    """Steps done once ``last.pt`` stands at or past ``step`` (or the process ended, or time ran out)."""
    deadline, stamp, done = time.monotonic() + timeout, None, steps_done(run_dir)
    while done < step and p.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        path = run_dir / "last.pt"
        now = path.stat().st_mtime_ns if path.is_file() else None
        if now != stamp:
            stamp, done = now, steps_done(run_dir)
    return done


def strike_at(p: Process, run_dir: Path, target: float, per_epoch: int, step_seconds: float) -> None:
    """Return when the run stands near training position ``target``.

    Checkpoints come at epoch ends, so the epoch is found by watching ``last.pt``, and only the position
    inside it is timed. A slow or busy machine then shifts a fault within its epoch, never into another.
    """
    done = wait_for_step(p, run_dir, int(target // per_epoch) * per_epoch)
    time.sleep(max(target - done, 0.0) * step_seconds + 0.02)


def fault_chain(data: Path, folder: Path, count: int, reference: tuple[Path, int], rng: random.Random,
                inject) -> tuple[list[dict], list[Path]]:
    """Train, and at ``count`` random training positions call ``inject(process, trial)`` (a signal, a
    kill), resuming after each; returns the trials and the run dirs, each finished by a last clean resume.

    A trial that finds the run already finished (a short rest of the run) is not counted: the chain goes
    on in a fresh run dir with new positions, so every trial hits a live run. Finished means exit 0, or
    ``metrics.json`` written (the run's last act): a signal that lands after it, while the interpreter
    shuts down and the default handlers are back, ends a process that had nothing left to lose. A run
    whose training a fault left complete (it struck the final tests) is resumed to its end untouched,
    since every later position would strike its tests again, and the chain goes on in a fresh run dir too.
    """
    reference_dir, steps = reference
    per_epoch = steps // EPOCHS
    history = load_checkpoint(reference_dir / "last.pt")["progress"]["history"]
    step_seconds = sorted(r["perf/epoch_seconds"] for r in history)[len(history) // 2] / per_epoch
    runs, trials, attempt = [folder / "run0"], [], 0
    targets = random_targets(rng, count, steps)
    while len(trials) < count and attempt < 3 * count:
        run_dir = runs[-1]
        p = start_or_resume(data, run_dir, attempt)
        attempt += 1
        assert p.wait_for(STARTED), p.output[-3000:]
        if steps_done(run_dir) >= steps:  # a fault hit the final tests: no training position is left
            assert p.wait(120) == 0, p.output[-3000:]
        else:
            strike_at(p, run_dir, targets[len(trials)], per_epoch, step_seconds)
            inject(p, len(trials))
            code = p.wait(120)
            if code != 0 and not (run_dir / "metrics.json").is_file():
                trials.append(dict(run=run_dir.name, code=code, at=progress(run_dir),
                                   unreadable=unreadable_checkpoints(run_dir), output=p.output))
                continue
        runs.append(folder / f"run{len(runs)}")
        targets = targets[: len(trials)] + random_targets(rng, count - len(trials), steps)
    assert len(trials) == count, f"only {len(trials)} of {count} faults hit a running process"
    p = start_or_resume(data, runs[-1], attempt)
    assert p.wait() == 0, p.output[-3000:]
    return trials, runs


def history_without_perf(run_dir: Path) -> list[dict]:
    rows = load_checkpoint(run_dir / "last.pt")["progress"]["history"]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]
