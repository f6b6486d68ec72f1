"""Console-script targets: set the OpenMP environment (``pointnet.runtime.openmp``), then run the app.

Importing this module loads no torch (the top package imports lazily), so the variables are in
place before the app's ``import torch`` loads libgomp.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

from pointnet.runtime.openmp import quiet_openmp

CHECKOUT = Path(__file__).resolve().parents[2]  # the repository, where ``benchmarks/`` sits beside the package


def run(module: str) -> object:
    """Set the OpenMP environment, import ``module`` and call its ``main()``."""
    quiet_openmp()
    return importlib.import_module(module).main()


def train() -> object:
    return run("pointnet.apps.train")


def evaluate() -> object:
    return run("pointnet.apps.evaluate")


def predict() -> object:
    return run("pointnet.apps.predict")


def prepare() -> object:
    return run("pointnet.apps.prepare")


def benchmark() -> object:
    """``benchmarks.benchmark`` of the checkout this package is installed from (benchmarks are not installed)."""
    if not (CHECKOUT / "benchmarks" / "benchmark.py").is_file():
        raise SystemExit(f"pointnet-benchmark runs the benchmarks/ folder of a checkout of the repository, "
                         f"and there is none in {CHECKOUT}: install with `pip install -e .` from a clone")
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    return run("benchmarks.benchmark")


def download() -> object:
    return run("pointnet.apps.download")


def make_synthetic() -> object:
    return run("pointnet.apps.make_synthetic")


def export() -> object:
    return run("pointnet.apps.export")


def summary() -> object:
    return run("pointnet.apps.summary")
