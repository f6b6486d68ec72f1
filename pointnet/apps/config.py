"""Validation of a composed config: values that cannot work are refused before any work, naming the key.

Hydra merges the YAML files under ``configs/`` into the schema (``pointnet.apps.schema``), so a misspelt
key or a value of the wrong type is refused by OmegaConf; ``validate`` then checks values (ranges,
names, folders) before any data or model is touched.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pointnet.apps.preflight import check_runtime
from pointnet.data import FORMATS
from pointnet.data.datasets.formats import SUBSETS
from pointnet.data.pipeline.corruptions import parse_corruptions
from pointnet.data.pipeline.holdout import SPLIT_NAMES
from pointnet.data.readers.sampling import UP_AXES
from pointnet.errors import ConfigError
from pointnet.inference.export import EXPORT_FORMATS
from pointnet.nn.shared_mlp import SHARED_MLPS
from pointnet.reporting.predictions import PREDICTION_FORMATS
from pointnet.training.batching import BATCH_SCOPES
from pointnet.training.distributed import DIST_BACKENDS
from pointnet.training.optim import OPTIMIZERS, SCHEDULERS
from pointnet.training.precision import PRECISIONS
from pointnet.training.settings import COMPILE_MODES

LR_SCALINGS = ("none", "linear")


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def _check_choice(value: str, key: str, choices) -> None:
    _check(value in choices, key, f"unknown value {value!r}; choose one of {sorted(choices)}")


def validate(cfg: Any, *, training: bool = True) -> None:
    """Refuse values that cannot work, naming the key, before any data or model is touched."""
    validate_model(cfg.model)
    validate_data(cfg.data)
    if training:
        validate_train(cfg)
    else:
        validate_eval(cfg.eval)


def validate_model(model: Any) -> None:
    _check_choice(model.shared_mlp, "model.shared_mlp", SHARED_MLPS)
    _check(0 <= model.dropout < 1, "model.dropout", f"must be in [0, 1), got {model.dropout}")


def validate_data(data: Any) -> None:
    _check_choice(data.format, "data.format", FORMATS)
    _check(data.num_points > 0, "data.num_points", f"must be > 0, got {data.num_points}")
    _check(data.dense_points >= data.num_points, "data.dense_points",
           f"must be >= data.num_points ({data.num_points}), got {data.dense_points}")
    _check(data.max_per_class is None or data.max_per_class > 0, "data.max_per_class",
           f"must be > 0 or null, got {data.max_per_class}")
    _check(0 <= data.val_fraction < 1, "data.val_fraction", f"must be in [0, 1), got {data.val_fraction}")
    _check_choice(data.up_axis, "data.up_axis", UP_AXES)
    _check_choice(data.resampled_lists, "data.resampled_lists", SUBSETS)
    _check(0 <= data.test_fraction < 1, "data.test_fraction", f"must be in [0, 1), got {data.test_fraction}")
    _check(data.workers >= 1, "data.workers", f"must be >= 1, got {data.workers}")
    _check(bool(str(data.root).strip()), "data.root", f"required for data={data.name}: data.root=/path/to/your/shapes")
    _check(data.cache_dir is None or bool(data.cache_dir), "data.cache_dir",
           "must name a folder or be null (the data set's own .cache), got an empty string")
    _check(data.generate or Path(data.root).is_dir(), "data.root",
           f"no data set folder at {Path(data.root).resolve()} (see data/README.md to get one)")
    _check(data.augment.scale_low <= data.augment.scale_high, "data.augment.scale_low",
           "must be <= data.augment.scale_high")
    for key in ("point_dropout", "local_dropout", "noise_points"):
        value = data.augment[key]
        _check(0 <= value < 1, f"data.augment.{key}", f"must be in [0, 1) (0: off), got {value}")
    _check(0 <= data.augment.tilt <= 90, "data.augment.tilt", f"must be in [0, 90] degrees (0: off), got "
           f"{data.augment.tilt}")
    mirror = str(data.augment.mirror)
    _check(set(mirror) <= set(UP_AXES) and len(set(mirror)) == len(mirror), "data.augment.mirror",
           f"must name distinct axes among {'/'.join(UP_AXES)} (e.g. x or xz; empty turns it off), got {mirror!r}")
    validate_amounts(data)


def validate_amounts(data: Any) -> None:
    """Counts and magnitudes of the data settings that only a later stage would trip over."""
    for key in ("train_per_class", "test_per_class"):
        value = data.synthetic[key]
        _check(value >= 1, f"data.synthetic.{key}", f"must be >= 1, got {value}")
    _check(0 <= data.synthetic.seed < 2**32, "data.synthetic.seed", f"must be in [0, 2**32), got {data.synthetic.seed}")
    _check(data.augment.scale_low > 0, "data.augment.scale_low", f"must be > 0, got {data.augment.scale_low}")
    for key in ("jitter_sigma", "jitter_clip", "shift"):
        value = data.augment[key]
        _check(value >= 0, f"data.augment.{key}", f"must be >= 0 (0 turns it off), got {value}")


def validate_eval(ev: Any) -> None:
    _check(ev.batch_size > 0, "eval.batch_size", f"must be > 0, got {ev.batch_size}")
    _check(ev.votes >= 1, "eval.votes", f"must be >= 1, got {ev.votes}")
    _check(ev.top_k >= 1, "eval.top_k", f"must be >= 1, got {ev.top_k}")
    _check(ev.critical_points >= 0, "eval.critical_points", f"must be >= 0, got {ev.critical_points}")
    _check_choice(ev.split, "eval.split", SPLIT_NAMES)
    try:
        parse_corruptions(ev.corruptions)
    except ValueError as exc:
        raise ConfigError("eval.corruptions", str(exc)) from None
    _check(0 <= ev.corruption_seed < 2**64, "eval.corruption_seed", f"must be in [0, 2**64), got {ev.corruption_seed}")


def validate_train(cfg: Any) -> None:
    train = cfg.train
    _check(train.lr > 0, "train.lr", f"must be > 0, got {train.lr}")
    _check(train.epochs >= 1, "train.epochs", f"must be >= 1, got {train.epochs}")
    _check(train.batch_size >= 2, "train.batch_size",
           f"must be >= 2 (BatchNorm cannot train on one sample), got {train.batch_size}")
    _check(train.reg_weight >= 0, "train.reg_weight", f"must be >= 0, got {train.reg_weight}")
    _check_choice(train.precision, "train.precision", PRECISIONS)
    _check_choice(train.compile_mode, "train.compile_mode", COMPILE_MODES)
    _check(not (train.device_data and train.num_workers > 0), "train.num_workers",
           f"train.device_data=true draws batches on the device; {train.num_workers} loader workers would be unused")
    _check(train.compile or train.compile_mode == "default", "train.compile_mode",
           f"{train.compile_mode!r} needs train.compile=true")
    _check(train.log_every >= 1, "train.log_every", f"must be >= 1, got {train.log_every}")
    validate_budget(train, cfg.data.num_points)
    _check(train.figures_every >= 0, "train.figures_every", f"must be >= 0 (0: test figures only), got "
           f"{train.figures_every}")
    check_runtime(cfg.runtime.threads, cfg.runtime.device, train.num_workers)
    _check(cfg.eval.batch_size > 0, "eval.batch_size", f"must be > 0, got {cfg.eval.batch_size}")
    _check_choice(cfg.optimizer.name, "optimizer.name", OPTIMIZERS)
    _check_choice(cfg.scheduler.name, "scheduler.name", SCHEDULERS)
    _check(cfg.scheduler.step_size >= 1, "scheduler.step_size", f"must be >= 1, got {cfg.scheduler.step_size}")
    _check(train.budget_minutes is not None or 0 <= cfg.scheduler.warmup_epochs < train.epochs,
           "scheduler.warmup_epochs", f"must be in [0, train.epochs={train.epochs}), got {cfg.scheduler.warmup_epochs}")
    _check(0 <= train.label_smoothing < 1, "train.label_smoothing", f"must be in [0, 1), got {train.label_smoothing}")
    _check(train.grad_clip >= 0, "train.grad_clip", f"must be >= 0 (0: off), got {train.grad_clip}")
    _check(0 <= train.cutmix_prob <= 1, "train.cutmix_prob", f"must be in [0, 1] (0: off), got {train.cutmix_prob}")
    _check(train.cutmix_beta > 0, "train.cutmix_beta", f"must be > 0, got {train.cutmix_beta}")
    _check(0 <= train.ema_decay < 1, "train.ema_decay", f"must be in [0, 1) (0: off), got {train.ema_decay}")
    _check(cfg.optimizer.weight_decay >= 0, "optimizer.weight_decay", f"must be >= 0, got {cfg.optimizer.weight_decay}")
    _check(cfg.resume is False or cfg.resume is True or isinstance(cfg.resume, str), "resume",
           f"must be true, false or a checkpoint path, got {cfg.resume!r}")
    _check(not isinstance(cfg.resume, str) or Path(cfg.resume).exists(), "resume",
           f"no checkpoint or run dir at {Path(str(cfg.resume)).resolve()}")
    validate_distributed(train.distributed)
    validate_schedules(cfg)


def validate_budget(train: Any, num_points: int) -> None:
    """The keys that shape a run's length and its points per cloud over time."""
    _check(train.budget_minutes is None or train.budget_minutes > 0, "train.budget_minutes",
           f"must be > 0 or null (null: train.epochs counts), got {train.budget_minutes}")
    _check(0 <= train.early_points <= num_points, "train.early_points",
           f"must be in [0, data.num_points={num_points}] (0: off), got {train.early_points}")
    _check(0 <= train.early_fraction < 1, "train.early_fraction", f"must be in [0, 1), got {train.early_fraction}")
    _check(train.val_every >= 1, "train.val_every", f"must be >= 1, got {train.val_every}")


def validate_schedules(cfg: Any) -> None:
    """Optimiser, schedules, seed and logging amounts that torch or NumPy would refuse mid-run."""
    _check(0 <= cfg.seed < 2**32, "seed", f"must be in [0, 2**32) (NumPy's seed range), got {cfg.seed}")
    _check(cfg.optimizer.weight_decay >= 0, "optimizer.weight_decay", f"must be >= 0, got {cfg.optimizer.weight_decay}")
    _check(0 <= cfg.optimizer.momentum < 1, "optimizer.momentum", f"must be in [0, 1), got {cfg.optimizer.momentum}")
    _check(cfg.scheduler.gamma > 0, "scheduler.gamma", f"must be > 0, got {cfg.scheduler.gamma}")
    _check(cfg.scheduler.min_lr >= 0, "scheduler.min_lr", f"must be >= 0, got {cfg.scheduler.min_lr}")
    bn = cfg.train.bn_momentum
    for key in ("start", "decay", "minimum"):
        _check(0 <= bn[key] <= 1, f"train.bn_momentum.{key}", f"must be in [0, 1], got {bn[key]}")
    _check(bn.step_size >= 1, "train.bn_momentum.step_size", f"must be >= 1, got {bn.step_size}")
    _check(cfg.train.num_clouds >= 0, "train.num_clouds", f"must be >= 0, got {cfg.train.num_clouds}")


def validate_distributed(d: Any) -> None:
    _check_choice(d.backend, "train.distributed.backend", DIST_BACKENDS)
    _check(d.timeout_s > 0, "train.distributed.timeout_s", f"must be > 0, got {d.timeout_s}")
    _check(d.prepare_timeout_s > 0, "train.distributed.prepare_timeout_s", f"must be > 0, got {d.prepare_timeout_s}")
    _check_choice(d.batch_scope, "train.distributed.batch_scope", BATCH_SCOPES)
    _check_choice(d.lr_scaling, "train.distributed.lr_scaling", LR_SCALINGS)


def validate_predict(cfg: Any) -> None:
    _check_choice(cfg.predict.format, "predict.format", PREDICTION_FORMATS)
    _check(bool(cfg.files), "files", "give at least one file, folder or glob: 'files=[chair.off,scans/,*.npy]'")


def validate_export(cfg: Any) -> None:
    _check_choice(cfg.export.format, "export.format", EXPORT_FORMATS)
    _check(bool(cfg.checkpoint), "checkpoint", "required: checkpoint=PATH/TO/best.pt (or last.pt)")
