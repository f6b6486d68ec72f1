"""Checks every app runs on its composed config before any work: keys it uses, group names, devices.

Each app has its own schema (``pointnet.apps.schema``), which refuses another app's keys; where an app reads
part of a shared group only (``pointnet-predict`` and ``data``), a value that differs from the app's own defaults
outside what it reads is refused here, naming the key. Optional config groups (``experiment``) are checked against the
options that exist, because Hydra drops an unknown optional choice without a word.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import torch
from omegaconf import DictConfig, OmegaConf

from pointnet.errors import ConfigError
from pointnet.roles import leaves, under

T = TypeVar("T")


def plain_dict(cfg: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """``cfg`` as plain dicts and lists (``OmegaConf.to_container``, which types its result as any container)."""
    node = OmegaConf.to_container(cfg, resolve=resolve)
    assert isinstance(node, dict)  # a DictConfig becomes a dict
    return cast(dict[str, Any], node)


def settings_object(node: DictConfig, kind: type[T]) -> T:
    """A structured config group as the dataclass instance it was built from (``OmegaConf.to_object``)."""
    value = OmegaConf.to_object(node)
    assert isinstance(value, kind), f"expected {kind.__name__}, got {type(value).__name__}"
    return value


def _plain(cfg: Any) -> dict[str, Any]:
    node = plain_dict(cfg, resolve=False) if isinstance(cfg, DictConfig) else dict(cfg)
    node.pop("hydra", None)
    return node


def changed_keys(cfg: Any, defaults: Any) -> list[str]:
    """Dotted paths whose value in ``cfg`` differs from ``defaults`` (added or removed ones too)."""
    ours, theirs = dict(leaves(_plain(cfg))), dict(leaves(_plain(defaults)))
    missing = object()
    return sorted(k for k in ours.keys() | theirs.keys() if ours.get(k, missing) != theirs.get(k, missing))


def check_used_keys(app: str, reads: tuple[str, ...], cfg: Any, defaults: Any) -> None:
    """Refuse keys not in ``defaults`` (``+model.bogus=1``) and changed ones ``pointnet-<app>`` does not read
    (``reads``: the config paths it reads).

    The error names the first such key and lists the others.
    """
    known = dict(leaves(_plain(defaults)))
    added = [k for k, _ in leaves(_plain(cfg)) if k not in known]
    if added:
        raise ConfigError(added[0], "unknown key (not in the config schema)" + _also(added))
    unused = [k for k in changed_keys(cfg, defaults) if not under(k, reads)]
    if unused:
        raise ConfigError(unused[0], f"not used by pointnet-{app}, which reads only {', '.join(reads)}; "
                                     "remove it (or run the app that uses it)" + _also(unused))


def _also(keys: list[str]) -> str:
    return f"; also {', '.join(keys[1:])}" if len(keys) > 1 else ""


def check_finite(cfg: Any) -> None:
    """Refuse a NaN or infinite number anywhere: no setting means "unbounded" by ``inf``."""
    for key, value in leaves(_plain(cfg)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"must be a finite number, got {value}")


def check_group_choices(choices: Mapping[str, Any], options: Callable[[str], list[str]]) -> None:
    """Refuse a selected config group option that does not exist (``experiment=foo``).

    ``choices``: group -> selected option (Hydra's ``runtime.choices``); ``options(group)``: the
    options that exist. Hydra's own groups (``hydra/...``) are Hydra's business.
    """
    for group, choice in choices.items():
        if choice is None or group.startswith("hydra"):
            continue
        valid = options(group)
        if valid and choice not in valid:
            raise ConfigError(group, f"unknown value {choice!r}; choose one of {sorted(valid)}")


def check_runtime(threads: int | None, device: str, num_workers: int = 0) -> None:
    """Refuse thread, worker and device settings this process cannot use (``runtime.*``, ``train.num_workers``)."""
    if threads is not None and threads < 1:
        raise ConfigError("runtime.threads", f"must be >= 1 or null (torch's default), got {threads}")
    if num_workers < 0:
        raise ConfigError("train.num_workers", f"must be >= 0 (0 loads batches in the main process), got {num_workers}")
    if device in ("auto", "cpu"):
        return
    head, sep, index = device.partition(":")
    if head != "cuda" or (sep and not index.isdigit()):
        raise ConfigError("runtime.device", f"must be auto, cpu or cuda[:N], got {device!r}")
    if not torch.cuda.is_available():
        raise ConfigError("runtime.device", f"{device!r} requested but CUDA is not available here "
                                          f"(torch {torch.__version__}); use runtime.device=cpu or auto")
    if int(index or 0) >= torch.cuda.device_count():
        raise ConfigError("runtime.device", f"{device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
