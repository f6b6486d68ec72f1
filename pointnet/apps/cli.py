"""The wrapper every app's ``main`` runs under: preflight checks, then one clean line per refusal.

``@hydra.main`` prints an exception's traceback; a refused setting is the user's to fix, not a bug,
so it prints as ``error: <key>: <message>`` on stderr with exit code 2 (a data set that cannot be
used: exit code 1), before any work starts.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pointnet.apps.preflight import check_group_choices, check_used_keys
from pointnet.data.errors import DatasetError
from pointnet.errors import ConfigError

CONFIG_EXIT = 2
DATA_EXIT = 1
T = TypeVar("T")


def group_options(group: str) -> list[str]:
    """The options of config group ``group`` in the running app's config search path."""
    return GlobalHydra.instance().config_loader().get_group_options(group)


def preflight(app: str, cfg: DictConfig) -> None:
    """Inside a running Hydra app: refuse unknown group options and keys ``pointnet-<app>`` ignores."""
    hydra_cfg = HydraConfig.get()
    check_group_choices(dict(hydra_cfg.runtime.choices), group_options)
    check_used_keys(app, cfg, compose(config_name=hydra_cfg.job.config_name))


def app_main(app: str) -> Callable[[Callable[[DictConfig], T]], Callable[[DictConfig], T]]:
    """Decorate the task function of ``pointnet-<app>`` (under ``@hydra.main``)."""

    def decorate(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
        @functools.wraps(task)
        def run(cfg: DictConfig) -> Any:
            try:
                preflight(app, cfg)
                return task(cfg)
            except ConfigError as error:
                _exit(error, CONFIG_EXIT)
            except DatasetError as error:
                _exit(error, DATA_EXIT)

        return run

    return decorate


def _exit(error: Exception, code: int) -> None:
    print(f"error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(code) from None
