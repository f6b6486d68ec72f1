"""What the eval and predict apps share: a model rebuilt from a checkpoint, with command-line overrides.

A checkpoint remembers its model arguments and data config; eval and predict reuse them unless the
command line overrides them (``model/shared_mlp=loop``, ``model.fast=false``, ``data.root=...`` or a
whole ``data=<name>``), so any checkpoint evaluates under any variant.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pointnet.apps.config import ConfigError, validate_eval, validate_model
from pointnet.apps.preflight import check_runtime, settings_object
from pointnet.data import PointSet
from pointnet.data.datasets.load import load_data
from pointnet.data.settings import DataSettings
from pointnet.inference.classifier import model_from_state
from pointnet.nn.model import PointNet
from pointnet.runtime.malloc import tune_malloc
from pointnet.runtime.threads import ThreadGovernor
from pointnet.training.checkpoint import load_checkpoint


def task_overrides() -> list[str]:
    """The overrides typed on the command line of the running Hydra app ([] outside Hydra)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def output_dir() -> Path:
    """The running Hydra app's output dir: ``hydra.run.dir``, or a sweep job's own dir."""
    return Path(HydraConfig.get().runtime.output_dir)


def _typed(overrides: list[str], prefix: str) -> list[str]:
    return [o.lstrip("+~") for o in overrides if o.lstrip("+~").startswith(prefix)]


def resolve_device(name: str) -> torch.device:
    """``runtime.device`` as a torch device: ``auto`` is CUDA when available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_from_checkpoint(cfg: DictConfig, overrides: list[str]) -> tuple[PointNet, dict[str, Any]]:
    """Rebuild the saved model on ``runtime.device``, under the variant (and fast flag) typed if any."""
    if not cfg.checkpoint:
        raise ConfigError("checkpoint", "required: checkpoint=PATH/TO/last.pt (or best.pt)")
    path = Path(cfg.checkpoint)
    state = load_checkpoint(path)
    changes = {"shared_mlp": cfg.model.shared_mlp} if _typed(overrides, "model/shared_mlp=") else {}
    for override in _typed(overrides, "model."):
        key = override.split("=", 1)[0].split(".", 1)[1]
        changes[key] = cfg.model[key]
    return model_from_state(state, path, **changes).to(resolve_device(cfg.runtime.device)), state


def open_checkpoint(cfg: DictConfig, overrides: list[str] | None) -> tuple[PointNet, dict[str, Any], DictConfig]:
    """The eval and predict preamble: check the keys, tune the process, rebuild model and data config.

    ``overrides`` default to the running Hydra app's command line.
    """
    overrides = task_overrides() if overrides is None else overrides
    validate_model(cfg.model)
    validate_eval(cfg.eval)
    check_runtime(cfg.runtime.threads, cfg.runtime.device)
    tune_malloc()
    ThreadGovernor(cfg.runtime.threads).start()  # runtime.threads fixes the count; null: chosen from the load
    model, state = model_from_checkpoint(cfg, overrides)
    return model, state, data_config(cfg, state, overrides)


def data_config(cfg: DictConfig, state: dict[str, Any], overrides: list[str]) -> DictConfig:
    """The checkpoint's data config with the typed ``data.*`` overrides; ``data=<name>`` replaces it."""
    if _typed(overrides, "data="):
        return cfg.data
    saved = dict(state.get("config", {}).get("data", {}))
    if "subset" in saved:  # checkpoints from before the key was renamed
        saved["resampled_lists"] = saved.pop("subset")
    typed = OmegaConf.from_dotlist(_typed(overrides, "data."))
    merged = OmegaConf.merge(OmegaConf.structured(DataSettings), saved, typed.get("data", {}))
    assert isinstance(merged, DictConfig)  # a merge onto a structured config stays one
    return merged


def data_settings(d: DictConfig) -> DataSettings:
    """The ``data`` group as the data layer's own ``DataSettings``: what travels down."""
    return settings_object(d, DataSettings)


def prepare_data(d: DictConfig, progress: bool = True) -> tuple[PointSet, PointSet]:
    """Generate (offline set) and prepare or read the cached train and test point sets of ``d``."""
    return load_data(data_settings(d), progress)
