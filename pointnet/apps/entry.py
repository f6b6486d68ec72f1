"""Console-script targets: set the OpenMP environment (``pointnet.apps.openmp``), then run the app.

Importing this module loads no torch (the top package imports lazily), so the variables are in
place before the app's ``import torch`` loads libgomp.
"""
from __future__ import annotations

import importlib

from pointnet.apps.openmp import quiet_openmp


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
    return run("pointnet.apps.benchmark")


def export() -> object:
    return run("pointnet.apps.export")


def summary() -> object:
    return run("pointnet.apps.summary")
