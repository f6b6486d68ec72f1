"""The up-axis check that ``pointnet-prepare`` and the start of training run: decision, report, picture, warning.

The statistic is :mod:`pointnet.data.readers.up_axis`'s and the picture :mod:`pointnet.reporting.figures`'s; this
module joins them for an app: it decides once, writes the picture where the app keeps its files, and
returns the report and at most one warning for the app to show once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from omegaconf import DictConfig

from pointnet.data import PointSet
from pointnet.data.datasets.load import CACHE_FOLDER
from pointnet.data.pipeline.holdout import Splits
from pointnet.data.readers.up_axis import (
    UpAxisDecision,
    decide_up_axis,
    picture_shapes,
    up_axis_report,
    up_axis_warning,
)
from pointnet.reporting.board import RunBoard
from pointnet.reporting.figures import save_figure, up_axis_figure

log = logging.getLogger(__name__)

PICTURE = "up_axis.png"
BOARD_TAG = "data/up_axis"


@dataclass(frozen=True)
class UpAxisCheck:
    """What the check found: the decision, its report (per class, the data set, the picture's path), the
    warning (``None``: nothing to warn about), the picture and where it was written (``None``: not written)."""

    decision: UpAxisDecision
    report: str
    warning: str | None
    figure: Figure
    picture: Path | None


def check_up_axis(d: DictConfig, point_sets: list[PointSet], picture: Path) -> UpAxisCheck:
    """Decide the up axis of ``point_sets`` (splits of one data set) and write the picture to ``picture``."""
    decision = decide_up_axis(point_sets, d.up_axis)
    figure = up_axis_figure(picture_shapes(point_sets, decision, d.up_axis), d.up_axis, decision.axis)
    written = _write(figure, picture)
    shown = str(written) if written else None
    return UpAxisCheck(decision, up_axis_report(decision, d.up_axis, shown),
                       up_axis_warning(decision, d.up_axis, d.augment.rotate, shown), figure, written)


def _write(figure: Figure, path: Path) -> Path | None:
    """The picture is a help, not a result: a folder that cannot take it costs a log line, not the run."""
    try:
        return save_figure(figure, path)
    except OSError as error:
        log.info("up-axis picture not written to %s: %s", path, error.strerror or error)
        return None


def cache_folder(d: DictConfig) -> Path:
    """Where ``d``'s prepared splits are cached (``data.cache_dir``, default ``<data.root>/.cache``)."""
    return Path(d.cache_dir) if d.cache_dir else Path(d.root) / CACHE_FOLDER


def log_check(check: UpAxisCheck) -> None:
    """The report at INFO and the warning, if any, once at WARNING."""
    log.info("%s", check.report)
    if check.warning:
        log.warning("%s", check.warning)


def show_up_axis(d: DictConfig, splits: Splits, run_dir: Path, board: RunBoard) -> UpAxisCheck:
    """At a run's start: the check over every split, logged once, its picture in ``run_dir`` and on the board."""
    sets = [split.point_set for split in (splits.train, splits.val, splits.test) if split is not None]
    check = check_up_axis(d, sets, run_dir / PICTURE)
    log_check(check)
    board.figure(BOARD_TAG, check.figure)
    return check
