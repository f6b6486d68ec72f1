"""Each Hydra app's config schema, built from shared groups, and what each key does to a run (its role).

A role (``pointnet.roles``) is declared once, on the field.

Hydra merges the YAML files under ``configs/`` into the app's dataclass (OmegaConf refuses a misspelt key, a
key of another app's schema or a value of the wrong type; ``pointnet.apps.config`` then checks the values). The
groups are the lower layers' own settings classes (``data``: ``pointnet.data.settings``; ``train``,
``optimizer``, ``scheduler``: ``pointnet.training.settings``; ``runtime``: ``pointnet.runtime.settings``), so
code below the apps receives plain values or instances of those classes, never the config object. Where an app
reads part of a group only (``pointnet-predict`` reads three ``data`` keys), :data:`APPS` says which, and
``pointnet.apps.preflight`` refuses the rest.

From the fields' roles come the lists that used to be kept by hand:

- sweep job names leave out every key whose role is not named (``configs/train.yaml`` reads
  ``${unnamed_keys:}`` as Hydra's ``override_dirname.exclude_keys``);
- TensorBoard's HParams record the keys ``pointnet-train`` reads whose role is named;
- a resume may change every key whose role is not ``result``, and every key ``pointnet-train`` does not read.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from pointnet.apps.launch import register_resolvers
from pointnet.apps.preflight import plain_dict
from pointnet.data.settings import DataSettings
from pointnet.errors import ConfigError
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
from pointnet.runtime.settings import RuntimeSettings
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
    split: str = "test"  # train (the shapes trained on), val (held out of train) or test
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
class OldRuntimeKeys:
    """``train.device`` and ``train.threads``: the ``runtime`` group's keys under their old names, read as those
    (with a warning) until the next release; null when not typed."""

    device: str | None = field(default=None, metadata=SPEED_ROLE)
    threads: int | None = field(default=None, metadata=SPEED_ROLE)


@dataclass
class TrainGroup(TrainSettings, OldRuntimeKeys):
    """``pointnet-train``'s ``train`` group: the training layer's settings, and the runtime keys' old names."""


@dataclass
class ModelSchema:
    """The groups of every app that runs a model: the network, its data, evaluation, where and how it computes."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataSettings = field(default_factory=DataSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)


@dataclass
class TrainSchema(ModelSchema):
    """``pointnet-train`` (``configs/train.yaml``), and ``pointnet-prepare``, which reads its ``data`` only."""

    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    train: TrainGroup = field(default_factory=TrainGroup)
    seed: int = 0
    resume: Any = field(default=False, metadata=PLACE_ROLE)


@dataclass
class ReaderSchema(ModelSchema):
    """What ``pointnet-eval`` and ``pointnet-predict`` share: a checkpoint to read, besides the model's groups."""

    checkpoint: str | None = field(default=None, metadata=PLACE_ROLE)
    train: OldRuntimeKeys = field(default_factory=OldRuntimeKeys)


@dataclass
class EvalSchema(ReaderSchema):
    """``pointnet-eval`` (``configs/eval.yaml``)."""


@dataclass
class PredictSchema(ReaderSchema):
    """``pointnet-predict`` (``configs/predict.yaml``)."""

    files: list[str] = field(default_factory=list, metadata=PLACE_ROLE)
    seed: int = 0
    predict: PredictConfig = field(default_factory=PredictConfig)


@dataclass
class ExportSchema:
    """``pointnet-export`` (``configs/export.yaml``)."""

    checkpoint: str | None = field(default=None, metadata=PLACE_ROLE)
    export: ExportConfig = field(default_factory=ExportConfig)


OLD_NAMES = tuple(f.name for f in fields(OldRuntimeKeys))  # eval's and predict's train group


@dataclass(frozen=True)
class App:
    """One app: its schema, its primary config (``configs/<config>.yaml``), and the part of the schema it reads.

    ``only``: the app reads these top-level keys only (None: all); ``partly``: of these groups, these keys only.
    """

    schema: type
    config: str
    only: tuple[str, ...] | None = None
    partly: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def reads(self) -> tuple[str, ...]:
        """The config paths the app reads; a path covers every key below it."""
        tops = self.only or tuple(f.name for f in fields(self.schema))
        return tuple(k for top in tops for k in ([f"{top}.{key}" for key in self.partly[top]]
                                                 if top in self.partly else [top]))


APPS: dict[str, App] = {
    "train": App(TrainSchema, "train", partly={"eval": ("batch_size",)}),
    "prepare": App(TrainSchema, "train", only=("data",)),
    "eval": App(EvalSchema, "eval", partly={"eval": ("split", "batch_size", "votes", "critical_points",
                                                     "corruptions", "corruption_seed"), "train": OLD_NAMES}),
    "predict": App(PredictSchema, "predict", partly={"data": ("num_points", "up_axis", "normals"),
                                                     "eval": ("votes", "top_k"), "train": OLD_NAMES}),
    "export": App(ExportSchema, "export"),
}
"""Every Hydra app (``pointnet-<name>``)."""


def register_configs() -> None:
    """Put each app's schema in Hydra's ConfigStore as ``<config>_schema`` (first in the app's primary config),
    and register the resolvers its YAML uses (``unnamed_keys``: the keys sweep job names leave out)."""
    register_resolvers()
    if not OmegaConf.has_resolver("unnamed_keys"):
        OmegaConf.register_new_resolver("unnamed_keys", unnamed_keys)
    for app in APPS.values():
        ConfigStore.instance().store(name=f"{app.config}_schema", node=app.schema)


@functools.cache
def roles() -> dict[str, str]:
    """Every key's role, over all the apps' schemas (a group shared by two apps is one class)."""
    return {key: role for app in APPS.values() for key, role in leaf_roles(app.schema)}


def role_of(key: str) -> str:
    """The role of a dotted key; a key the schema lacks (or a group above keys) counts as ``result``."""
    return roles().get(key, RESULT)


def unnamed_keys() -> list[str]:
    """The keys a sweep job's name leaves out: those whose role is not named (Hydra's ``exclude_keys``)."""
    return sorted(k for k, r in roles().items() if r not in NAMED)


def changes_results(key: str, app: str = "train") -> bool:
    """Whether ``key`` is one HParams records: ``pointnet-<app>`` reads it and its role is named."""
    return under(key, APPS[app].reads()) and role_of(key) in NAMED


def resume_may_differ() -> list[str]:
    """The keys a resumed training run may change: every key not both read by ``pointnet-train`` and ``result``."""
    reads = APPS["train"].reads()
    return sorted(k for k, r in roles().items() if r not in FIXED_ON_RESUME or not under(k, reads))


def recipe(config: Mapping[str, Any]) -> dict[str, Setting]:
    """Every setting of a plain training config that changes results, typed as in the config."""
    return {k: scalar(v) for k, v in leaves(config) if changes_results(k)}


def hparams(cfg: DictConfig, world_size: int, global_batch: int) -> dict[str, Setting]:
    """:func:`recipe` of the running config with the spread over processes, for TensorBoard's HParams tab and the
    model card."""
    return {**recipe(plain_dict(cfg)), "world_size": world_size, "global_batch": global_batch}


def adopt_old_runtime_keys(cfg: DictConfig) -> None:
    """Move a value typed under an old name (``train.device=cuda``) to its new key (``runtime.device``), with a
    ``FutureWarning``; the old names go in the next release.

    Refused, naming the old key, when the new key is set to another value too.
    """
    defaults = RuntimeSettings()
    for name in OLD_NAMES:
        old, new = f"train.{name}", f"runtime.{name}"
        value = OmegaConf.select(cfg, old)
        if value is None:
            continue
        current = OmegaConf.select(cfg, new)
        if current not in (value, getattr(defaults, name)):
            raise ConfigError(old, f"is the old name of {new}, which is set to {current!r} too; keep {new} only")
        warnings.warn(f"{old} is now {new}; the old name is read until the next release ({new}={value})",
                      FutureWarning, stacklevel=2)
        OmegaConf.update(cfg, new, value)
        OmegaConf.update(cfg, old, None)


def scalar(value: Any) -> Setting:
    """A config value as HParams takes it: bool, number or text (lists and None as text)."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)
