"""``pointnet-prepare``: build the point cache of a data set ahead of training, on the training config.

``pointnet-prepare data=modelnet10 data.root=PATH`` samples every mesh once (both cores), caches the
dense samples per split and prints what was prepared per split and class, and which meshes were
skipped and why, then the up axis per class and of the data set (:mod:`pointnet.apps.up_axis_check`),
with a picture beside the cache and one warning when ``data.up_axis`` looks wrong while rotation
augmentation is on. Training runs the same preparation for whatever is missing.
"""
from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.common import prepare_data
from pointnet.apps.config import validate_data
from pointnet.apps.schema import register_configs
from pointnet.apps.up_axis_check import PICTURE, cache_folder, check_up_axis

log = logging.getLogger(__name__)
register_configs()


def prepare(data: DictConfig) -> str:
    """Prepare both splits of ``data``; returns the summary to print (ending with the up-axis report).

    The up-axis warning, if any, is logged here, once; the summary does not repeat it.
    """
    validate_data(data)
    train, test = prepare_data(data)
    check = check_up_axis(data, [train, test], cache_folder(data) / PICTURE)
    if check.warning:
        log.warning("%s", check.warning)
    return f"== train ==\n{train.summary()}\n== test ==\n{test.summary()}\n{check.report}"


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="train")
@app_main("prepare")
def main(cfg: DictConfig) -> None:
    summary = prepare(cfg.data)
    print(summary)
    log.info("prepared %s", cfg.data.name)  # the summary went to stdout: the console handler would repeat it


if __name__ == "__main__":
    main()
