"""Peak memory of a training step, and the step under glibc's default malloc: each in a fresh process.

A process's ``VmHWM`` (peak RSS) only grows, so every candidate is measured in a child of its own:
``python -m benchmarks.benchmark --probe VARIANT:FORM:BATCH`` prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks import ROOT
from benchmarks.steps import benchmark_clouds, build_model, training_step
from benchmarks.timing import NUM_CLASSES, seconds
from pointnet.runtime.malloc import tune_malloc
from pointnet.runtime.threads import set_threads


def read_status_kib(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def probe(args: argparse.Namespace) -> dict:
    """In the child: peak RSS of training steps for one candidate, and their median time."""
    malloc = tune_malloc() if args.probe_malloc == "tuned" else False
    set_threads(args.threads)
    variant, form, size = args.probe.split(":")
    batch = int(size)
    model = build_model(variant, form)
    step = training_step(model, benchmark_clouds(batch, args.points, ties=form == "ties"),
                         torch.randint(0, NUM_CLASSES, (batch,)))
    before = read_status_kib("VmRSS")
    times = [seconds(step) for _ in range(1 + args.probe_steps)]
    peak = read_status_kib("VmHWM")
    return {"variant": variant, "form": form, "batch": batch, "malloc_tuned": malloc,
            "peak_rss_mib": peak / 1024 if peak else None,
            "step_mib": (peak - before) / 1024 if peak and before else None,
            "train_s": statistics.median(times[1:]) if len(times) > 1 else times[0]}


def run_probe(args: argparse.Namespace, variant: str, form: str, batch: int, malloc: str = "tuned",
              steps: int = 1) -> dict:
    """``probe`` in a child process with the same thread count; glibc ``MALLOC_*`` variables removed."""
    command = [sys.executable, "-m", "benchmarks.benchmark", "--probe", f"{variant}:{form}:{batch}",
               "--probe-malloc", malloc, "--probe-steps", str(steps), "--points", str(args.points),
               "--threads", str(torch.get_num_threads())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])
