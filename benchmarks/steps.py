"""What the benchmarks time: the model per variant and form, random clouds, a training step, inference."""
from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from benchmarks.timing import NUM_CLASSES, seconds
from pointnet.nn.losses import classification_loss
from pointnet.nn.model import PointNet
from pointnet.training.precision import autocast


def build_model(variant: str, form: str) -> PointNet:
    """``form``: ``fast``, ``plain``, ``ties`` (the fast form, timed on clouds with repeated points) or
    ``compiled`` (the plain form; the caller compiles it)."""
    torch.manual_seed(0)
    return PointNet(NUM_CLASSES, shared_mlp=variant, fast=form in ("fast", "ties"))


def benchmark_clouds(batch: int, points: int, ties: bool = False) -> torch.Tensor:
    """``(B, N, 3)`` random clouds; ``ties``: each drawn with replacement from its own ``N`` points, so
    about a third of the points are exact copies and most max-pool channels tie (padded or gridded data)."""
    clouds = torch.randn(batch, points, 3)
    if not ties:
        return clouds
    draw = torch.randint(0, points, (batch, points))
    return torch.gather(clouds, 1, draw[:, :, None].expand(-1, -1, 3))


def training_step(model: PointNet, points: torch.Tensor, labels: torch.Tensor, run: Callable | None = None,
                  precision: str = "float32") -> Callable[[], None]:
    """Forward (through ``run``, e.g. a compiled model; default ``model``) and loss + regulariser under
    ``precision``'s autocast, backward, Adam step, as ``pointnet.training.epoch`` trains."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    run = model if run is None else run

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision, points.device):
            logits, transform = run(points)
            loss, _ = classification_loss(logits, labels, transform)
        loss.backward()
        optimizer.step()

    return step


def inference(model: PointNet, points: torch.Tensor, run: Callable | None = None,
              precision: str = "float32") -> Callable[[], None]:
    """An eval-mode forward under ``torch.no_grad()`` (through ``run``; default ``model``)."""
    run = model if run is None else run

    def infer() -> None:
        model.eval()
        with torch.no_grad(), autocast(precision, points.device):
            run(points)

    return infer


def default_training_step(batch: int, points: int) -> Callable[[], None]:
    """The default model's (``conv1d``, fast) training step on random clouds: the bare step."""
    model = build_model("conv1d", "fast")
    return training_step(model, torch.randn(batch, points, 3), torch.randint(0, NUM_CLASSES, (batch,)))


def bare_step_rate(batch: int, points: int, steps: int = 5) -> Callable[[], float]:
    """A function timing the bare step ``steps`` times: its median samples/s."""
    step = default_training_step(batch, points)
    step()
    return lambda: batch / statistics.median(seconds(step) for _ in range(steps))
