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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pointnet.apps.config import (
    validate,
    validate_data,
    validate_eval,
    validate_export,
    validate_model,
    validate_predict,
)
from pointnet.apps.exits import one_line_errors, tell_torchrun
from pointnet.apps.preflight import check_finite, check_group_choices, check_runtime, check_used_keys
from pointnet.apps.schema import APPS, adopt_old_runtime_keys
from pointnet.data.errors import DatasetError
from pointnet.errors import ConfigError

CONFIG_EXIT = 2
DATA_EXIT = 1
T = TypeVar("T")


def group_options(group: str) -> list[str]:
    """The options of config group ``group`` in the running app's config search path."""
    return GlobalHydra.instance().config_loader().get_group_options(group)


def _validate_reader(cfg: DictConfig) -> None:
    """Eval and predict: what they check before opening the checkpoint (its data config comes after)."""
    if not cfg.checkpoint:
        raise ConfigError("checkpoint", "required: checkpoint=PATH/TO/last.pt (or best.pt)")
    if not Path(cfg.checkpoint).is_file():
        raise ConfigError("checkpoint", f"no such file: {Path(cfg.checkpoint).resolve()}")
    validate_model(cfg.model)
    validate_eval(cfg.eval)
    check_runtime(cfg.runtime.threads, cfg.runtime.device)


def _validate_predict(cfg: DictConfig) -> None:
    validate_predict(cfg)
    _validate_reader(cfg)


VALIDATE: dict[str, Callable[[DictConfig], None]] = {
    "train": validate,
    "eval": _validate_reader,
    "predict": _validate_predict,
    "prepare": lambda cfg: validate_data(cfg.data),
    "export": lambda cfg: validate_export(cfg),
}
"""What each app checks of its config before any work."""


def check_config(app: str, cfg: DictConfig, defaults: DictConfig, choices: Mapping[str, Any],
                 options: Callable[[str], list[str]]) -> None:
    """Every check ``pointnet-<app>`` runs before work, on plain inputs (the fuzz tests call it too).

    ``defaults``: the app's config composed without overrides; ``choices``: the selected group
    options; ``options(group)``: the options that exist.
    """
    check_group_choices(choices, options)
    check_used_keys(app, APPS[app].reads(), cfg, defaults)
    adopt_old_runtime_keys(cfg)
    check_finite(cfg)
    VALIDATE[app](cfg)


def preflight(app: str, cfg: DictConfig) -> None:
    """Inside a running Hydra app: :func:`check_config` with Hydra's own choices and defaults."""
    hydra_cfg = HydraConfig.get()
    defaults = compose(config_name=hydra_cfg.job.config_name)
    check_config(app, cfg, defaults, dict(hydra_cfg.runtime.choices), group_options)


def app_main(app: str) -> Callable[[Callable[[DictConfig], T]], Callable[[DictConfig], T]]:
    """Decorate the task function of ``pointnet-<app>`` (under ``@hydra.main``)."""

    def decorate(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
        @functools.wraps(task)
        def run(cfg: DictConfig) -> Any:
            threading.excepthook = _quiet_disk_full
            try:
                preflight(app, cfg)
                with one_line_errors():
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
    tell_torchrun(str(error))
    raise SystemExit(code) from None
