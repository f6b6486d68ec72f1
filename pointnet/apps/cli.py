"""The wrapper every app's ``main`` runs under: preflight checks, then one clean line per refusal.

``@hydra.main`` prints an exception's traceback; a refused setting is the user's to fix, not a bug,
so it prints as ``error: <key>: <message>`` on stderr with exit code 2 (a data set that cannot be
used: exit code 1), before any work starts. A full disk is not a bug either: it prints as one line
naming what could not be written (exit code 1); what was already written completely stays intact.
"""
from __future__ import annotations

import errno
import functools
import sys
import threading
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
            threading.excepthook = _quiet_disk_full
            try:
                preflight(app, cfg)
                return task(cfg)
            except ConfigError as error:
                _exit(error, CONFIG_EXIT)
            except DatasetError as error:
                _exit(error, DATA_EXIT)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                _exit(error, DATA_EXIT)

        return run

    return decorate


def _quiet_disk_full(args: threading.ExceptHookArgs) -> None:
    """Leave a writer thread's full-disk error to the main thread (which reports it in one line)."""
    if not (isinstance(args.exc_value, OSError) and args.exc_value.errno == errno.ENOSPC):
        threading.__excepthook__(args)


def _exit(error: Exception, code: int) -> None:
    print(f"error: {error}", file=sys.stderr, flush=True)
    raise SystemExit(code) from None
