"""``pointnet-prepare``: build the point cache of a data set ahead of training, on the training config.

``pointnet-prepare data=modelnet10 data.root=PATH`` samples every mesh once (both cores), caches the
dense samples per split and prints what was prepared per split and class, and which meshes were
skipped and why, then per class the axis that is tallest for most shapes (with a warning when
``data.up_axis`` disagrees while rotation augmentation is on). Training runs the same preparation for
whatever is missing.
"""
from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.common import prepare_data, report_up_axis
from pointnet.apps.config import register_configs, validate_data

log = logging.getLogger(__name__)
register_configs()


def prepare(data: DictConfig) -> str:
    """Prepare both splits of ``data``; returns the printed summary (with the tallest axis per class)."""
    validate_data(data)
    train, test = prepare_data(data)
    return f"== train ==\n{train.summary()}\n== test ==\n{test.summary()}\n{report_up_axis(data, train, test)}"


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="train")
@app_main("prepare")
def main(cfg: DictConfig) -> None:
    summary = prepare(cfg.data)
    print(summary)
    log.info("prepared %s\n%s", cfg.data.name, summary)


if __name__ == "__main__":
    main()
