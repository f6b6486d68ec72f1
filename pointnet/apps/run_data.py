"""A training run's data: its splits (rank 0 prepares the cache first), a batch that fits, the budget's epochs."""
from __future__ import annotations

import logging

from omegaconf import DictConfig

from pointnet.apps.common import data_settings
from pointnet.data.datasets.load import load_data
from pointnet.data.pipeline.holdout import Splits, build_splits
from pointnet.errors import ConfigError
from pointnet.training import distributed as dist
from pointnet.training.budget import plan_budget

log = logging.getLogger(__name__)


def load_splits(cfg: DictConfig) -> Splits:
    """The run's train/val/test datasets (rank 0 prepares the cache first, the others then read it)."""
    settings = data_settings(cfg.data)
    with dist.main_first(cfg.train.distributed.prepare_timeout_s):
        train_set, test_set = load_data(settings, progress=dist.is_main())
    splits = build_splits(train_set, test_set, settings, seed=cfg.seed)
    log.info("data %s: %d train, %d val, %d test shapes, %d classes", cfg.data.name, len(splits.train),
             len(splits.val or []), len(splits.test), len(splits.classes))
    return splits


def apply_budget(cfg: DictConfig, splits: Splits, global_batch: int) -> None:
    """``train.budget_minutes``: set ``train.epochs`` in ``cfg`` from the budget and the data set's size
    (``pointnet.training.budget``), so the run's config, HParams and checkpoints hold the epochs it trains."""
    t = cfg.train
    if t.budget_minutes is None:
        return
    try:
        plan = plan_budget(t.budget_minutes, train_shapes=len(splits.train), val_shapes=len(splits.val or []),
                           test_shapes=len(splits.test), batch_size=global_batch, num_points=cfg.data.num_points,
                           early_points=t.early_points, early_fraction=t.early_fraction, val_every=t.val_every)
    except ValueError as error:
        raise ConfigError("train.budget_minutes", str(error)) from None
    if not cfg.scheduler.warmup_epochs < plan.epochs:
        raise ConfigError("scheduler.warmup_epochs", f"must be below the {plan.epochs} epochs that "
                          f"train.budget_minutes={t.budget_minutes:g} buys, got {cfg.scheduler.warmup_epochs}")
    t.epochs = plan.epochs
    log.info("%s", plan.describe(t.budget_minutes))


def check_batch_fits(global_batch: int, train_shapes: int, val_fraction: float) -> None:
    """Refuse a batch larger than the training set: with ``drop_last`` not one step would run."""
    if global_batch > train_shapes:
        raise ConfigError("train.batch_size", f"a batch of {global_batch} is larger than the training set "
                          f"({train_shapes} shapes after holding out data.val_fraction={val_fraction}); "
                          f"no step would run: use train.batch_size <= {train_shapes}")
