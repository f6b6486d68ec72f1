"""What a training run's TensorBoard shows besides the loop's numbers: the swept keys, figures, config and command."""
from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from pointnet.apps.common import task_overrides
from pointnet.data.pipeline.holdout import Splits
from pointnet.reporting.run_report import BoardView
from pointnet.roles import under


def swept_settings(overrides: list[str], names: Iterable[str]) -> set[str]:
    """The hparams that ``overrides`` set: ``train.lr=...`` -> ``train.lr``, ``optimizer=sgd`` -> ``optimizer.*``."""
    keys = [o.lstrip("+~").split("=", 1)[0].replace("/", ".") for o in overrides]
    return {n for n in names if under(n, keys)}


def board_view(cfg: DictConfig, splits: Splits, hparam_names: Iterable[str]) -> BoardView:
    """What the run's TensorBoard shows besides the loop's numbers: swept keys, figures, config and command."""
    overrides = task_overrides()
    command = " ".join(["pointnet-train", *map(shlex.quote, overrides)])
    texts = {"run/config": f"```yaml\n{OmegaConf.to_yaml(cfg, resolve=True)}```",
             "run/command": f"```\n{command}\n```\n\n`{' '.join(map(shlex.quote, sys.argv))}`"}
    return BoardView(swept=swept_settings(overrides, hparam_names), figures_every=cfg.train.figures_every,
                     epochs=cfg.train.epochs, seed=cfg.seed, texts=texts, val=splits.val)
