"""``pointnet-benchmark --under-load``: the default training step alone and beside a competing process.

Each lever runs in a fresh process (the OpenMP variables only act before torch loads), first on
its own, then while a CPU-bound competitor (``while True: pass``) that this module starts holds a
core. The competitor gets its own session, hence its own scheduler autogroup with this process's
autogroup nice value, as another user's job would. Levers:

- ``spin``: torch's defaults (libgomp's 300,000-spin wait, all cores);
- ``passive``: passive OpenMP waiting (``OMP_WAIT_POLICY=PASSIVE``, no spin), all cores;
- ``bounded``: a 1000-spin wait (``pointnet.runtime.openmp``), all cores;
- ``governor``: libgomp's default wait, thread count from the load (``pointnet.runtime.threads.ThreadGovernor``);
- ``default``: the bounded spin and the governor, which is what ``pointnet-train`` does by default;
- ``one-thread``: libgomp's default wait, ``runtime.threads=1`` (what the README used to ask users to set).

Reported per lever: median step samples/s alone and loaded, their ratio, and the loaded rate as
a fraction of the *spin* lever's quiet rate (what the user had before).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import ROOT
from benchmarks.timing import seconds
from pointnet.runtime.openmp import BOUNDED, OPENMP_KEYS, PASSIVE, openmp_settings, wait_label

LEVERS = ("spin", "passive", "bounded", "governor", "default", "one-thread")


@dataclass(frozen=True)
class Lever:
    """How a lever's child process is started: OpenMP wait (``spin``: libgomp's default, ``passive``,
    ``bounded``) and thread choice."""

    wait: str
    governed: bool
    threads: int | None = None


LEVER_SETTINGS = {
    "spin": Lever(wait="spin", governed=False),
    "passive": Lever(wait="passive", governed=False),
    "bounded": Lever(wait="bounded", governed=False),
    "governor": Lever(wait="spin", governed=True),
    "default": Lever(wait="bounded", governed=True),
    "one-thread": Lever(wait="spin", governed=False, threads=1),
}
WAIT_SETTINGS = {"passive": PASSIVE, "bounded": BOUNDED}  # ``spin`` sets nothing: libgomp's default


def child_env(lever: Lever) -> dict[str, str]:
    """The child's environment: the user's OpenMP variables removed, then the lever's set."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_KEYS}
    if lever.wait == "spin":
        env["POINTNET_OPENMP"] = "spin"
    else:
        openmp_settings(env, WAIT_SETTINGS[lever.wait])
    return env


def autogroup_nice() -> int | None:
    """This process's scheduler autogroup nice value (``/proc/self/autogroup``), or None."""
    try:
        return int(Path("/proc/self/autogroup").read_text().split("nice")[1])
    except (OSError, IndexError, ValueError):
        return None


def start_competitor() -> subprocess.Popen:
    """A CPU-bound process in its own session, its autogroup as nice as ours."""
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    nice = autogroup_nice()
    if nice is not None:
        try:
            Path(f"/proc/{competitor.pid}/autogroup").write_text(str(nice))
        except OSError:
            pass
    return competitor


def run_child(args: argparse.Namespace, lever: str, loaded: bool) -> dict:
    """One lever in a fresh ``benchmarks.benchmark --load-probe`` process, with or without competitor."""
    command = [sys.executable, "-m", "benchmarks.benchmark", "--load-probe", lever, "--batch-size",
               str(args.batch_size), "--points", str(args.points), "--load-steps", str(args.load_steps)]
    competitor = start_competitor() if loaded else None
    try:
        time.sleep(0.5 if loaded else 0.0)  # the competitor is running before the child starts
        done = subprocess.run(command, capture_output=True, text=True, env=child_env(LEVER_SETTINGS[lever]),
                              check=True, timeout=args.load_timeout, cwd=ROOT)
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_probe(args: argparse.Namespace, make_step: Callable[[], Callable[[], None]]) -> dict:
    """In the child: the step ``make_step()`` builds (the default training step) timed ``load_steps`` times."""
    import torch

    from pointnet.runtime.malloc import tune_malloc
    from pointnet.runtime.threads import ThreadGovernor

    lever = LEVER_SETTINGS[args.load_probe]
    tune_malloc()
    governor = ThreadGovernor(None if lever.governed else lever.threads)
    if lever.governed or lever.threads is not None:
        governor.start()
    step = make_step()
    step()  # warm-up
    times, threads = [], []
    for _ in range(args.load_steps):
        times.append(seconds(step))
        threads.append(governor.observe_step() if lever.governed else torch.get_num_threads())
    return {"lever": args.load_probe, "samples_per_s": args.batch_size / statistics.median(times),
            "step_s": times, "threads": threads,
            "openmp_wait": wait_label(os.environ), "history": governor.history}


def under_load(args: argparse.Namespace, log: Callable[[str], None]) -> list[dict]:
    """Every requested lever alone, then loaded; one row each."""
    rows = []
    for lever in args.levers:
        log(f"under load: {lever} alone")
        quiet = run_child(args, lever, loaded=False)
        log(f"under load: {lever} beside a competitor")
        loaded = run_child(args, lever, loaded=True)
        rows.append({"lever": lever, "quiet_samples_per_s": quiet["samples_per_s"],
                     "loaded_samples_per_s": loaded["samples_per_s"],
                     "kept": loaded["samples_per_s"] / quiet["samples_per_s"],
                     "quiet_threads": quiet["threads"], "loaded_threads": loaded["threads"],
                     "openmp_wait": quiet["openmp_wait"]})
    spin = next((r for r in rows if r["lever"] == "spin"), None)
    for r in rows:
        r["vs_spin_quiet"] = r["loaded_samples_per_s"] / spin["quiet_samples_per_s"] if spin else None
    return rows


def load_table(rows: list[dict], cores: int | None) -> str:
    head = (f"under load (default training step, conv1d/fast; competitor: 1 CPU-bound process on {cores} cores)\n"
            f"{'lever':10} {'OMP wait':10} | {'alone/s':>7} {'threads':>7} | {'loaded/s':>8} {'threads':>7} | "
            f"{'kept':>5} {'vs spin':>7}")
    lines = [head, "-" * len(head.splitlines()[-1])]
    for r in rows:
        lines.append(
            f"{r['lever']:10} {r['openmp_wait']:10} | {r['quiet_samples_per_s']:7.2f} "
            f"{_threads(r['quiet_threads']):>7} | {r['loaded_samples_per_s']:8.2f} "
            f"{_threads(r['loaded_threads']):>7} | "
            f"{100 * r['kept']:4.0f}% {_percent(r['vs_spin_quiet']):>7}")
    lines.append("kept: loaded / alone for the same lever (target for 'default': >= 45%); vs spin: loaded / the "
                 "spin lever alone (torch's defaults, what users had before)")
    return "\n".join(lines)


def _threads(counts: list[int]) -> str:
    return "/".join(str(c) for c in sorted(set(counts))) or "-"


def _percent(value: float | None) -> str:
    return f"{100 * value:.0f}%" if value is not None else "-"
