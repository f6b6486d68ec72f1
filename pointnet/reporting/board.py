"""What a run shows in TensorBoard: scalars, confusion matrices, point clouds, PR curves, the projector,
HParams and text."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import mesh

from pointnet.reporting import hparams as hp
from pointnet.reporting.figures import confusion_figure
from pointnet.reporting.model_outputs import Predictions
from pointnet.training.metrics import ConfusionMatrix

CORRECT_RGB = (40, 170, 60)
WRONG_RGB = (220, 40, 40)
# ThreeJS point size in the clouds' own units (they fit the unit sphere): legible at the card's default zoom
CLOUD_CONFIG = {"material": {"cls": "PointsMaterial", "size": 0.045}}


def cloud_colors(points: np.ndarray, correct: bool) -> np.ndarray:
    """``(N, 3)`` uint8 colours: green for a correct prediction, red for a wrong one, darker to lighter
    with height (z), so the shape's depth reads at a glance."""
    z = points[:, 2]
    shade = 0.4 + 0.6 * (z - z.min()) / max(float(np.ptp(z)), 1e-9)
    base = np.array(CORRECT_RGB if correct else WRONG_RGB, dtype=np.float64)
    return np.clip(base[None] * shade[:, None] + 35 * shade[:, None], 0, 255).astype(np.uint8)


def y_up(points: np.ndarray) -> np.ndarray:
    """Z-up clouds as ThreeJS draws them (y up), so shapes stand upright in the mesh card."""
    return np.stack([points[:, 0], points[:, 2], -points[:, 1]], axis=1)


class BoardWriteError(OSError):
    """TensorBoard events could not be written (a full disk, a vanished folder); names the folder."""

    def __init__(self, log_dir: Path, error: OSError) -> None:
        super().__init__(error.errno, f"cannot write TensorBoard events in {log_dir}: {error.strerror or error}")

    def __str__(self) -> str:
        return str(self.strerror)


@contextmanager
def _writing(log_dir: Path) -> Iterator[None]:
    """Re-raise the writer's bare ``OSError`` (raised by its background thread) naming ``log_dir``."""
    try:
        yield
    except BoardWriteError:
        raise
    except OSError as error:
        raise BoardWriteError(log_dir, error) from error


class RunBoard:
    """A SummaryWriter in the run dir, with the project's figures, point clouds, curves and HParams."""

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        """``purge_step``: on resume, drop events a crashed run logged after its last checkpoint."""
        self.log_dir = Path(log_dir)
        with _writing(self.log_dir):
            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)

    def _summary(self, summary: Any, step: int | None = None) -> None:
        """Write a ready-made summary protobuf (a mesh, HParams), for which SummaryWriter has no public call."""
        writer = self.writer.file_writer
        assert writer is not None  # SummaryWriter opens it in __init__ and clears it only on close
        writer.add_summary(summary, step)

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        with _writing(self.log_dir):
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def confusion(self, tag: str, matrix: torch.Tensor, classes: list[str], title: str, step: int) -> None:
        with _writing(self.log_dir):
            self.writer.add_figure(tag, confusion_figure(matrix, classes, title), step)

    def figure(self, tag: str, fig: Figure, step: int = 0) -> None:
        """Any figure as an image card (the up-axis picture, once at a run's start)."""
        with _writing(self.log_dir):
            self.writer.add_figure(tag, fig, step)

    def class_accuracy(self, prefix: str, cm: ConfusionMatrix, classes: list[str], step: int) -> None:
        """``PREFIX/class_acc/NAME``: each class's accuracy (classes without shapes are left out)."""
        values = {f"{prefix}/class_acc/{name}": float(acc) for name, acc in zip(classes, cm.class_accuracy, strict=True)
                  if not torch.isnan(acc)}
        self.scalars(values, step)

    def clouds(self, prefix: str, points: torch.Tensor, labels: list[int], predictions: Predictions,
               classes: list[str], step: int, prediction_in_tag: bool = False) -> None:
        """``(M, N, C)`` clouds as point meshes, coloured by correctness, and a text card of predictions.

        The card's tag names the true class (and the predicted one with ``prediction_in_tag``, for clouds
        logged once); its description and the ``PREFIX_predictions`` text name both at every step.
        """
        rows = ["| card | true | predicted | probability |", "|---|---|---|---|"]
        for k, (cloud, label) in enumerate(zip(points.cpu().numpy(), labels, strict=True)):
            guess = int(predictions.predicted[k])
            true_name, guess_name = classes[label], classes[guess]
            probability = float(predictions.probabilities[k, guess])
            tag = f"{prefix}/{k:02d}_{true_name}" + (f"_as_{guess_name}" if prediction_in_tag else "")
            xyz = cloud[:, :3]
            colors = cloud_colors(xyz, guess == label)
            description = f"true **{true_name}**, predicted **{guess_name}** ({probability:.2f})"
            summary = mesh(tag, torch.from_numpy(y_up(xyz))[None].float(), torch.from_numpy(colors)[None], None,
                           CLOUD_CONFIG, description=description)
            self._summary(summary, step)
            rows.append(f"| {k:02d} | {true_name} | {guess_name} | {probability:.2f} |")
        self.text(f"{prefix}_predictions", "\n".join(rows), step)

    def pr_curves(self, prefix: str, predictions: Predictions, classes: list[str], step: int) -> None:
        """``PREFIX/pr/NAME``: one-vs-rest precision-recall of each class from its predicted probability."""
        for k, name in enumerate(classes):
            self.writer.add_pr_curve(f"{prefix}/pr/{name}", (predictions.labels == k).numpy(),
                                     predictions.probabilities[:, k].numpy(), step)

    def embedding(self, tag: str, predictions: Predictions, classes: list[str], step: int) -> None:
        """The global features ``(M, 1024)`` in the projector, labelled with true and predicted class."""
        metadata = [[classes[int(t)], classes[int(p)]]
                    for t, p in zip(predictions.labels, predictions.predicted, strict=True)]
        self.writer.add_embedding(predictions.features, metadata=metadata, metadata_header=["class", "predicted"],
                                  tag=tag, global_step=step)

    def text(self, tag: str, markdown: str, step: int = 0) -> None:
        self.writer.add_text(tag, markdown, step)

    def hparams(self, params: Mapping[str, hp.Setting], metrics: Iterable[tuple[str, str]], swept: set[str]) -> None:
        """Declare the settings and ``(group, tag)`` metrics, and this run's values (at the start, so live
        runs show)."""
        self._summary(hp.experiment_summary(params, metrics, swept))
        self._summary(hp.session_start_summary(params))

    def hparams_done(self) -> None:
        self._summary(hp.session_end_summary())

    def layout(self, layout: dict) -> None:
        """A custom scalars layout: ``{category: {chart: ["Multiline", [tag regexes]]}}``."""
        self.writer.add_custom_scalars(layout)

    def close(self) -> None:
        with _writing(self.log_dir):
            self.writer.close()
