"""What a run shows in TensorBoard: scalars, confusion matrices, point clouds, hparams."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from pointnet.reporting.figures import confusion_figure

CORRECT_RGB = (40, 170, 60)
WRONG_RGB = (220, 40, 40)


def cloud_colors(num_points: int, correct: bool) -> np.ndarray:
    """``(num_points, 3)`` uint8 colours: green for a correct prediction, red for a wrong one."""
    return np.tile(np.array(CORRECT_RGB if correct else WRONG_RGB, dtype=np.uint8), (num_points, 1))


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
    """A SummaryWriter in the run dir, with the project's figures and point clouds."""

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        """``purge_step``: on resume, drop events a crashed run logged after its last checkpoint."""
        self.log_dir = Path(log_dir)
        with _writing(self.log_dir):
            self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        with _writing(self.log_dir):
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def confusion(self, tag: str, matrix: torch.Tensor, classes: list[str], step: int) -> None:
        with _writing(self.log_dir):
            self.writer.add_figure(tag, confusion_figure(matrix, classes), step)

    def clouds(self, tag: str, points: torch.Tensor, correct: list[bool], names: list[str], step: int) -> None:
        """Log ``(M, N, 3)`` clouds as point meshes coloured by prediction correctness."""
        for i, (cloud, ok, name) in enumerate(zip(points.cpu(), correct, names)):
            colors = torch.from_numpy(cloud_colors(cloud.shape[0], ok))
            with _writing(self.log_dir):
                self.writer.add_mesh(f"{tag}/{i}_{name}", vertices=cloud[None], colors=colors[None],
                                     global_step=step)

    def hparams(self, params: dict[str, object], metrics: dict[str, float]) -> None:
        """Record the run's hyperparameters with its final metrics in this same run dir."""
        plain = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
        with _writing(self.log_dir):
            self.writer.add_hparams(plain, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")

    def close(self) -> None:
        with _writing(self.log_dir):
            self.writer.close()
