"""The config schema every Hydra app reads, and what each key does to a run (its role, ``pointnet.roles``).

Hydra merges the YAML files under ``configs/`` into these dataclasses (OmegaConf refuses a misspelt key
or a value of the wrong type; ``pointnet.apps.config`` then checks the values). The ``train``,
``optimizer`` and ``scheduler`` groups are the training layer's own settings classes
(``pointnet.training.settings``); code below the apps receives plain values or instances of those
classes, never the config object.

From the fields' roles come the lists that used to be kept by hand:

- sweep job names leave out every key whose role is not named (``configs/train.yaml`` reads
  ``${unnamed_keys:}`` as Hydra's ``override_dirname.exclude_keys``);
- TensorBoard's HParams record the keys ``pointnet-train`` reads whose role is named;
- a resume may change every key whose role is not ``result``, and every key ``pointnet-train`` does not read.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from pointnet.apps.launch import register_resolvers
from pointnet.apps.preflight import APP_KEYS, plain_dict
from pointnet.data.settings import DataSettings
from pointnet.reporting.hparams import Setting
from pointnet.roles import (
    FIXED_ON_RESUME,
    NAMED,
    PLACE_ROLE,
    REPORT_ROLE,
    RESULT,
    SPEED_ROLE,
    VARIANT_ROLE,
    leaf_roles,
    leaves,
    under,
)
from pointnet.training.settings import OptimizerSettings, SchedulerSettings, TrainSettings


@dataclass
class ModelConfig:
    shared_mlp: str = field(default="conv1d", metadata=VARIANT_ROLE)
    input_transform: bool = True
    feature_transform: bool = True
    dropout: float = 0.3
    fast: bool = field(default=True, metadata=VARIANT_ROLE)


@dataclass
class EvalConfig:
    split: str = "test"
    batch_size: int = field(default=32, metadata=SPEED_ROLE)
    votes: int = 1
    top_k: int = 3
    critical_points: int = 0
    corruptions: str = ""  # ModelNet-C's kinds at severities 1..5: "all" or a comma list (data.pipeline.corruptions)
    corruption_seed: int = 0  # the same corrupted clouds for every checkpoint, as ModelNet-C's fixed files


@dataclass
class PredictConfig:
    format: str = field(default="table", metadata=REPORT_ROLE)


@dataclass
class ExportConfig:
    format: str = "onnx"
    path: str | None = field(default=None, metadata=PLACE_ROLE)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataSettings = field(default_factory=DataSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    resume: Any = field(default=False, metadata=PLACE_ROLE)
    checkpoint: str | None = field(default=None, metadata=PLACE_ROLE)
    files: list[str] = field(default_factory=list, metadata=PLACE_ROLE)
    predict: PredictConfig = field(default_factory=PredictConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore as ``base_config`` (first in every primary config), and register
    the resolvers its YAML uses (``unnamed_keys``: the keys sweep job names leave out)."""
    register_resolvers()
    if not OmegaConf.has_resolver("unnamed_keys"):
        OmegaConf.register_new_resolver("unnamed_keys", unnamed_keys)
    ConfigStore.instance().store(name="base_config", node=Config)


@functools.cache
def roles() -> dict[str, str]:
    """Every schema key's role."""
    return dict(leaf_roles(Config))


def role_of(key: str) -> str:
    """The role of a dotted key; a key the schema lacks (or a group above keys) counts as ``result``."""
    return roles().get(key, RESULT)


def unnamed_keys() -> list[str]:
    """The keys a sweep job's name leaves out: those whose role is not named (Hydra's ``exclude_keys``)."""
    return sorted(k for k, r in roles().items() if r not in NAMED)


def changes_results(key: str, app: str = "train") -> bool:
    """Whether ``key`` is one HParams records: ``pointnet-<app>`` reads it and its role is named."""
    return under(key, APP_KEYS[app]) and role_of(key) in NAMED


def resume_may_differ() -> list[str]:
    """The keys a resumed training run may change: every key not both read by ``pointnet-train`` and ``result``."""
    return sorted(k for k, r in roles().items() if r not in FIXED_ON_RESUME or not under(k, APP_KEYS["train"]))


def hparams(cfg: DictConfig, world_size: int, global_batch: int) -> dict[str, Setting]:
    """Every setting that changes results, typed as in the config, for TensorBoard's HParams tab."""
    kept: dict[str, Setting] = {k: scalar(v) for k, v in leaves(plain_dict(cfg)) if changes_results(k)}
    return {**kept, "world_size": world_size, "global_batch": global_batch}


def scalar(value: Any) -> Setting:
    """A config value as HParams takes it: bool, number or text (lists and None as text)."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)
