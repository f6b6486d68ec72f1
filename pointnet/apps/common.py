"""What the eval and predict apps share: a model rebuilt from a checkpoint, with command-line overrides.

A checkpoint remembers its model arguments and data config; eval and predict reuse them unless the
command line overrides them (``model/shared_mlp=loop``, ``model.fast=false``, ``data.root=...`` or a
whole ``data=<name>``), so any checkpoint evaluates under any variant.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pointnet.training.checkpoint import load_checkpoint
from pointnet.apps.config import ConfigError, DataConfig, validate_eval, validate_model
from pointnet.data import Augmentation, PointSet
from pointnet.nn.model import PointNet
from pointnet.data.load import ensure_data, load_point_sets
from pointnet.training.runtime import ThreadGovernor, tune_malloc


def task_overrides() -> list[str]:
    """The overrides typed on the command line of the running Hydra app ([] outside Hydra)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _typed(overrides: list[str], prefix: str) -> list[str]:
    return [o.lstrip("+~") for o in overrides if o.lstrip("+~").startswith(prefix)]


def model_from_checkpoint(cfg: DictConfig, overrides: list[str]) -> tuple[PointNet, dict[str, Any]]:
    """Rebuild the saved model, under the variant (and fast flag) typed on the command line if any."""
    if not cfg.checkpoint:
        raise ConfigError("checkpoint", "required: checkpoint=PATH/TO/last.pt (or best.pt)")
    state = load_checkpoint(Path(cfg.checkpoint))
    args = dict(state["model_args"])
    if _typed(overrides, "model/shared_mlp="):
        args["shared_mlp"] = cfg.model.shared_mlp
    for override in _typed(overrides, "model."):
        key = override.split("=", 1)[0].split(".", 1)[1]
        args[key] = cfg.model[key]
    model = PointNet(**args)
    model.load_state_dict(state["model"], strict=True)
    return model.eval(), state


def open_checkpoint(cfg: DictConfig, overrides: list[str] | None) -> tuple[PointNet, dict[str, Any], DictConfig]:
    """The eval and predict preamble: check the keys, tune the process, rebuild model and data config.

    ``overrides`` default to the running Hydra app's command line.
    """
    overrides = task_overrides() if overrides is None else overrides
    validate_model(cfg.model)
    validate_eval(cfg.eval)
    tune_malloc()
    ThreadGovernor(cfg.train.threads).start()  # train.threads fixes the count; null: chosen from the load
    model, state = model_from_checkpoint(cfg, overrides)
    return model, state, data_config(cfg, state, overrides)


def data_config(cfg: DictConfig, state: dict[str, Any], overrides: list[str]) -> DictConfig:
    """The checkpoint's data config with the typed ``data.*`` overrides; ``data=<name>`` replaces it."""
    if _typed(overrides, "data="):
        return cfg.data
    saved = state.get("config", {}).get("data", {})
    typed = OmegaConf.from_dotlist(_typed(overrides, "data."))
    return OmegaConf.merge(OmegaConf.structured(DataConfig), saved, typed.get("data", {}))


def augmentation(a: DictConfig) -> Augmentation:
    """``data.augment`` as the data pipeline's ``Augmentation``."""
    return Augmentation(rotate=a.rotate, jitter_sigma=a.jitter_sigma, jitter_clip=a.jitter_clip,
                        scale=(a.scale_low, a.scale_high), shift=a.shift, shuffle=a.shuffle)


def prepare_data(d: DictConfig, progress: bool = True) -> tuple[PointSet, PointSet]:
    """Generate (offline set) and prepare or read the cached train and test point sets of ``d``."""
    root = ensure_data(d.root, d.generate, d.synthetic.seed, d.synthetic.train_per_class,
                       d.synthetic.test_per_class, d.workers)
    return load_point_sets(d.format, root, dense_points=d.dense_points, normals=d.normals, up_axis=d.up_axis,
                           cache_dir=d.cache_dir, max_per_class=d.max_per_class, workers=d.workers,
                           progress=progress, subset=d.subset)
