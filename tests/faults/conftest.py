"""The fault suite's ledger: every injected fault is one recorded trial.

Tests take the ``fault_log`` fixture and call ``fault_log(kind, survived=..., data_lost=...)`` once per
trial. With ``POINTNET_FAULT_LOG=FILE`` set, trials are appended to ``FILE`` as JSON lines, which
``scripts/fault_report.py`` turns into the README's reliability table. ``POINTNET_FAULT_BUDGET``
(seconds, default small) sizes the fuzzing loops and ``POINTNET_FAULT_REPEAT`` (default 1) multiplies the
signal and kill chains: CI runs a bounded slice, a longer budget runs on demand.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest


def fuzz_budget_s(default: float = 5.0) -> float:
    """Seconds a fuzzing test may spend (``POINTNET_FAULT_BUDGET``)."""
    return float(os.environ.get("POINTNET_FAULT_BUDGET", default))


def fault_repeat() -> int:
    """How many times over the signal and kill chains run their trials (``POINTNET_FAULT_REPEAT``)."""
    repeat = int(os.environ.get("POINTNET_FAULT_REPEAT", 1))
    if repeat < 1:
        raise ValueError(f"POINTNET_FAULT_REPEAT must be >= 1, got {repeat}")
    return repeat


@pytest.fixture
def fault_log(request):
    """``record(kind, survived, data_lost=False, **extra)``: one trial of fault ``kind``."""
    path = os.environ.get("POINTNET_FAULT_LOG")

    def record(kind: str, survived: bool, data_lost: bool = False, **extra) -> None:
        if path:
            row = {"kind": kind, "survived": bool(survived), "data_lost": bool(data_lost),
                   "test": request.node.nodeid, "time": time.time(), **extra}
            with Path(path).open("a") as f:
                f.write(json.dumps(row) + "\n")

    return record


@pytest.fixture(scope="session")
def reference_run(tiny_data, tmp_path_factory):
    """One uninterrupted CLI training (``runner.EPOCHS`` epochs): its run dir and its steps."""
    from tests.faults import runner

    out = tmp_path_factory.mktemp("reference") / "run"
    p = runner.Process(runner.app("train", *runner.train_args(tiny_data, out)), out.parent)
    assert p.wait() == 0, p.output[-3000:]
    return out, runner.progress(out)[2]
