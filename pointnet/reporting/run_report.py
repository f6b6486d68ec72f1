"""What a training run shows people: TensorBoard scalars, figures, point clouds, hparams, ``metrics.json``.

``RunReport`` is the rank-0 ``Reporter`` of ``pointnet.training.loop``: it receives each step's and
epoch's numbers and, at the end, the test results and the final state.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch

from pointnet.data.cloud_dataset import PointCloudDataset
from pointnet.reporting.board import RunBoard
from pointnet.reporting.figures import confusion_figure, save_figure
from pointnet.training.loop import Reporter
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.state import TrainingState

log = logging.getLogger(__name__)


def finite_or_null(value):
    """``value`` with every NaN or infinite float replaced by None, so ``json.dumps`` writes valid JSON (null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(v) for v in value]
    return value


class RunReport(Reporter):
    """TensorBoard events in ``run_dir/tensorboard`` and files in ``run_dir``.

    ``purge_step``: on resume, TensorBoard drops events a crashed run logged after its last checkpoint.
    ``hparams``: the settings shown beside the final metrics in TensorBoard's HParams tab.
    """

    def __init__(self, run_dir: Path, test: PointCloudDataset, classes: list[str], hparams: dict[str, object],
                 num_clouds: int, purge_step: int | None = None) -> None:
        self.run_dir, self.test, self.classes = run_dir, test, classes
        self.hparams, self.num_clouds = hparams, num_clouds
        self.board = RunBoard(run_dir / "tensorboard", purge_step=purge_step)

    def step(self, values: dict[str, float], step: int) -> None:
        self.board.scalars(values, step)

    def epoch(self, row: dict[str, float], step: int) -> None:
        self.board.scalars(row, step)

    def finish(self, metrics: dict[str, float], last: ConfusionMatrix, state: TrainingState) -> None:
        """Test scalars, the confusion matrix (TensorBoard and PNG), clouds, hparams and ``metrics.json``."""
        step, history = state.progress.global_step, state.progress.history
        self.board.scalars({k: v for k, v in metrics.items() if k != "val/acc"}, step)
        self.board.confusion("test/confusion_matrix", last.matrix, self.classes, step)
        save_figure(confusion_figure(last.matrix, self.classes, "test confusion (last epoch)"),
                    self.run_dir / "confusion_test.png")
        self.clouds(state.model, step)
        self.board.hparams(self.hparams, metrics)
        (self.run_dir / "metrics.json").write_text(json.dumps(finite_or_null(
            {**metrics, "test/shapes": last.total, "test/confusion": last.matrix.tolist(), "history": history}),
            indent=2, allow_nan=False))
        log.info("test accuracy %.4f (mean class %.4f), last epoch\n%s", last.accuracy,
                 last.mean_class_accuracy, last.table(self.classes))

    def clouds(self, model: torch.nn.Module, step: int) -> None:
        """``num_clouds`` test clouds spread over the set, coloured by whether ``model`` gets them right."""
        n = min(self.num_clouds, len(self.test))
        if n == 0:
            return
        model.eval()
        items = [self.test[i * len(self.test) // n] for i in range(n)]
        points = torch.stack([pts for pts, _ in items])  # (n, N, 3)
        labels = torch.stack([label for _, label in items])
        weight = next(model.parameters())
        with torch.no_grad():
            predicted = model(points.to(weight.device, weight.dtype))[0].argmax(dim=1).cpu()
        names = [self.classes[int(c)] for c in labels]
        self.board.clouds("test/clouds", points, (predicted == labels).tolist(), names, step)

    def close(self) -> None:
        self.board.close()
