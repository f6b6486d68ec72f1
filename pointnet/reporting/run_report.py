"""What a training run shows people: TensorBoard scalars, figures, point clouds, hparams, ``metrics.json``.

``RunReport`` is the rank-0 ``Reporter`` of ``pointnet.training.loop``: it receives each step's and
epoch's numbers and, at the end, the test results and the final state.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from pointnet.data.atomic import atomic_write_text
from pointnet.data.pipeline.cloud_dataset import PointCloudDataset
from pointnet.nn.model import PointNet
from pointnet.reporting.board import RunBoard
from pointnet.reporting.figures import confusion_figure, confusion_title, save_figure
from pointnet.reporting.hparams import Setting
from pointnet.reporting.model_card import results, training_facts, write_model_card
from pointnet.reporting.model_outputs import predict_dataset, predict_items, stratified_indices
from pointnet.training.loop import Reporter
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.state import TrainingState

log = logging.getLogger(__name__)

SCHEDULE_TAGS = {"lr": "schedule/lr", "bn_momentum": "schedule/bn_momentum", "epoch": "schedule/epoch"}
# The HParams table's metrics: scalars the run logs anyway (group "") and pointnet-eval's sub-run "eval"
HPARAM_METRICS = [("", t) for t in ("val/acc", "val/mean_class_acc", "val/loss", "train/loss", "train/acc", "test/acc",
                                    "test/mean_class_acc", "test/best_acc", "test/best_mean_class_acc")]
HPARAM_METRICS += [("eval", "eval/acc"), ("eval", "eval/mean_class_acc")]
X_AXIS = "x: global step (optimizer steps); schedule/epoch maps it to epochs"
LAYOUT = {
    f"per epoch ({X_AXIS})": {
        "loss": ["Multiline", ["^train/loss$", "^val/loss$"]],
        "accuracy": ["Multiline", ["^train/acc$", "^val/acc$", "^val/mean_class_acc$"]],
        "schedule": ["Multiline", ["^schedule/"]],
        "validation accuracy per class": ["Multiline", ["^val/class_acc/"]],
    },
    "per step (x: global step)": {"step loss": ["Multiline", ["^train/step_loss$", "^train/step_reg_loss$"]]},
}


@dataclass
class BoardView:
    """What the board shows beyond the loop's numbers.

    ``swept``: the hparams set on the command line or by a sweeper (shown first). ``figures_every``:
    validation confusion matrix and clouds every that many epochs (and the first and last; 0: only
    the test ones at the end). ``texts``: text cards written once (``run/config``, ``run/command``).
    ``val``: the validation set the clouds of training epochs come from (the test set without one).
    """

    swept: set[str] = field(default_factory=set)
    figures_every: int = 5
    epochs: int = 1
    seed: int = 0
    texts: dict[str, str] = field(default_factory=dict)
    val: PointCloudDataset | None = None


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
    ``shapes``: shapes per split (``train``, ``val``, ``test``) for ``MODEL_CARD.md``.
    """

    def __init__(self, run_dir: Path, test: PointCloudDataset, classes: list[str], hparams: dict[str, Setting],
                 num_clouds: int, purge_step: int | None = None, shapes: dict[str, int] | None = None,
                 view: BoardView | None = None) -> None:
        self.run_dir, self.test, self.classes, self.shapes = run_dir, test, classes, shapes or {}
        self.hparams, self.num_clouds = hparams, num_clouds
        self.view = view or BoardView()
        self.board = RunBoard(run_dir / "tensorboard", purge_step=purge_step)
        self.board.hparams(hparams, HPARAM_METRICS, self.view.swept)
        self.board.layout(LAYOUT)
        for tag, text in self.view.texts.items():
            self.board.text(tag, text)
        shown = self.view.val if self.view.val is not None and len(self.view.val) else test
        self.shown = shown, stratified_indices(shown.point_set.labels, num_clouds, self.view.seed)

    def step(self, values: dict[str, float], step: int) -> None:
        self.board.scalars(values, step)

    def epoch(self, row: dict[str, float], step: int) -> None:
        self.board.scalars({SCHEDULE_TAGS.get(k, k): v for k, v in row.items()}, step)

    def validation(self, cm: ConfusionMatrix, model: PointNet, epoch: int, step: int) -> None:
        """Per-class validation accuracy each epoch; the confusion matrix and clouds every ``figures_every``."""
        self.board.class_accuracy("val", cm, self.classes, step)
        every = self.view.figures_every
        if not every or not (epoch == 1 or epoch % every == 0 or epoch == self.view.epochs):
            return
        self.board.confusion("val/confusion_matrix", cm.matrix, self.classes,
                             confusion_title("val", cm.accuracy, epoch), step)
        dataset, indices = self.shown
        if indices:
            points, predictions = predict_items(model, dataset, indices)
            split = "val" if dataset is self.view.val else "test"
            self.board.clouds(f"{split}/clouds_training", points, predictions.labels.tolist(), predictions,
                              self.classes, step)

    def finish(self, metrics: dict[str, float], last: ConfusionMatrix, state: TrainingState) -> None:
        """Test scalars, per-class accuracy, the confusion matrix (TensorBoard and PNG), PR curves, the
        projector's global features, clouds, the model card and, last, ``metrics.json``."""
        step, history = state.progress.global_step, state.progress.history
        self.board.scalars({k: v for k, v in metrics.items() if k != "val/acc"}, step)
        self.board.class_accuracy("test", last, self.classes, step)
        title = confusion_title("test", last.accuracy, state.progress.epoch)
        self.board.confusion("test/confusion_matrix", last.matrix, self.classes, title, step)
        save_figure(confusion_figure(last.matrix, self.classes, title), self.run_dir / "confusion_test.png")
        if len(self.test):
            predictions = predict_dataset(state.evaluated, self.test)
            self.board.pr_curves("test", predictions, self.classes, step)
            self.board.embedding("test/global_features", predictions, self.classes, step)
        self.clouds(state.evaluated, step)
        self.board.hparams_done()
        test = results(last, self.classes, self.run_dir / "confusion_test.png", self.run_dir)
        write_model_card(self.run_dir, training_facts(state, metrics, test, self.shapes, self.hparams))
        # last, and whole or not at all: a finished run is one with metrics.json
        atomic_write_text(self.run_dir / "metrics.json", json.dumps(finite_or_null(
            {**metrics, "test/shapes": last.total, "test/confusion": last.matrix.tolist(), "history": history}),
            indent=2, allow_nan=False))
        log.info("test accuracy %.4f (mean class %.4f), last epoch\n%s", last.accuracy,
                 last.mean_class_accuracy, last.table(self.classes))

    def clouds(self, model: PointNet, step: int) -> None:
        """``num_clouds`` test clouds stratified over the classes, labelled with true and predicted class."""
        indices = stratified_indices(self.test.point_set.labels, self.num_clouds, self.view.seed)
        if indices:
            points, predictions = predict_items(model, self.test, indices)
            self.board.clouds("test/clouds", points, predictions.labels.tolist(), predictions, self.classes, step,
                              prediction_in_tag=True)

    def close(self) -> None:
        self.board.close()
