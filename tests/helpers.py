"""Helpers the test modules share: config composition, tiny runs, free ports, twin models."""
from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from pointnet import SHARED_MLPS, PointNet

VARIANTS = ("linear", "conv1d", "loop")
VARIANT_PAIRS = [(a, b) for i, a in enumerate(VARIANTS) for b in VARIANTS[i + 1 :]]


def compose(config_name: str = "train", overrides: list[str] | None = None):
    """Compose a project config the way the console scripts do, with ``overrides``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from pointnet.apps.schema import register_configs

    register_configs()
    with initialize_config_module(config_module="pointnet.configs", version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [])


def tiny_overrides(root, *extra: str) -> list[str]:
    """A training run of a few seconds: few points, tiny batches, two epochs."""
    return [
        f"data.root={root}",
        "data.generate=false",
        "data.num_points=32",
        "data.dense_points=64",
        "data.val_fraction=0.25",
        "data.workers=1",
        "train.epochs=2",
        "train.batch_size=4",
        "train.log_every=1",
        "train.num_clouds=2",
        "runtime.threads=1",
        *extra,
    ]


@contextmanager
def cpu_competitor() -> Iterator[subprocess.Popen]:
    """A CPU-bound process (``while True: pass``) for the block, in its own session: another user's job."""
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        yield competitor
    finally:
        competitor.kill()
        competitor.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def randomise_batchnorm(module: torch.nn.Module, negative_scales: bool = False) -> None:
    """Non-trivial BatchNorm parameters and running statistics, so eval mode and BN parameters matter.

    ``negative_scales``: some scales below zero (a max-pool over them becomes a min).
    """
    low = -1.5 if negative_scales else 0.5
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.uniform_(low, 1.5), m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)


def twin_mlps(first: dict, second: dict, channels, dtype=torch.float64, negative_scales: bool = False):
    """Two shared MLPs (keyword arguments ``first``/``second``) holding the same randomised weights."""
    a = SHARED_MLPS[first["shared_mlp"]](channels, **{k: v for k, v in first.items() if k != "shared_mlp"})
    a = a.to(dtype)
    randomise_batchnorm(a, negative_scales)
    b = SHARED_MLPS[second["shared_mlp"]](channels, **{k: v for k, v in second.items() if k != "shared_mlp"})
    b = b.to(dtype)
    b.load_state_dict(a.state_dict(), strict=True)
    return a, b


def twin_pointnets(first: dict, second: dict, dtype=torch.float64, negative_scales: bool = False,
                   num_classes: int = 7):
    """Two ``PointNet``s (keyword arguments ``first``/``second``) with the same weights, T-Nets off identity."""
    a = PointNet(num_classes, **first).to(dtype)
    randomise_batchnorm(a, negative_scales)
    with torch.no_grad():  # move the T-Nets away from the identity so they take part
        for tnet in (a.input_tnet, a.feature_tnet):
            if tnet is not None:
                tnet.out.weight.normal_(0, 0.01)
    b = PointNet(num_classes, **second).to(dtype)
    b.load_state_dict(a.state_dict(), strict=True)
    return a, b
