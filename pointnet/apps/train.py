"""``pointnet-train``: a thin ``@hydra.main`` over a plain ``train(cfg)``.

``train`` validates the config, prepares the data (generating the offline set on first use), builds
the training state and hands it to ``pointnet.training.loop``; every piece below it takes plain
arguments. Outputs (TensorBoard events, ``last.pt`` / ``best.pt``, confusion matrix image, up-axis picture,
``metrics.json``) go to Hydra's run dir.

Under ``torchrun`` the same code trains with DistributedDataParallel (``pointnet.training.distributed``):
each rank trains on its shard of every epoch, evaluation counts every shape once over all ranks, and
only rank 0 writes outputs. Checkpoints hold the unwrapped model, so they load anywhere.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: the bounded OpenMP spin, set before torch loads (pointnet.runtime.openmp)
    from pointnet.runtime.openmp import quiet_openmp
    quiet_openmp()

import logging
import random
import shlex
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pointnet.apps.cli import app_main
from pointnet.apps.common import data_settings, prepare_data, resolve_device, task_overrides
from pointnet.apps.config import validate
from pointnet.apps.preflight import plain_dict, settings_object
from pointnet.apps.rundir import move_into
from pointnet.apps.schema import hparams, register_configs, resume_may_differ
from pointnet.apps.up_axis_check import show_up_axis
from pointnet.data.pipeline.holdout import Splits, build_splits
from pointnet.errors import ConfigError
from pointnet.reporting.run_report import BoardView, RunReport
from pointnet.roles import under
from pointnet.runtime.malloc import tune_malloc
from pointnet.runtime.process import process_start_time
from pointnet.runtime.threads import ThreadGovernor
from pointnet.training import distributed as dist
from pointnet.training.batching import split_batch
from pointnet.training.budget import plan_budget
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.loop import TrainingLoop
from pointnet.training.precision import set_matmul_precision
from pointnet.training.settings import OptimizerSettings, Recipe, SchedulerSettings, TrainSettings
from pointnet.training.state import TrainingState
from pointnet.training.stop import Stopped, StopRequest

log = logging.getLogger(__name__)
register_configs()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of rank ``rank`` > 0 from step ``step`` on (its dropout masks differ from rank 0's)."""
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) & (2**63 - 1)


def model_args(cfg: DictConfig, num_classes: int) -> dict[str, Any]:
    """The plain constructor arguments of ``PointNet``, also stored in checkpoints (``in_channels``
    is 6 when ``data.normals`` feeds the normals)."""
    return dict(num_classes=num_classes, **plain_dict(cfg.model), in_channels=6 if cfg.data.normals else 3)


def recipe(cfg: DictConfig) -> Recipe:
    """The training layer's settings: instances of its own dataclasses, which the schema is built from."""
    return Recipe(train=settings_object(cfg.train, TrainSettings),
                  optimizer=settings_object(cfg.optimizer, OptimizerSettings),
                  scheduler=settings_object(cfg.scheduler, SchedulerSettings),
                  seed=cfg.seed, eval_batch_size=cfg.eval.batch_size)


def swept_settings(overrides: list[str], names: Iterable[str]) -> set[str]:
    """The hparams that ``overrides`` set: ``train.lr=...`` -> ``train.lr``, ``optimizer=sgd`` -> ``optimizer.*``."""
    keys = [o.lstrip("+~").split("=", 1)[0].replace("/", ".") for o in overrides]
    return {n for n in names if under(n, keys)}


def board_view(cfg: DictConfig, splits: Splits, hparam_names: Iterable[str]) -> BoardView:
    """What the run's TensorBoard shows besides the loop's numbers: swept keys, figures, config and command."""
    overrides = task_overrides()
    command = " ".join(["pointnet-train", *map(shlex.quote, overrides)])
    texts = {"run/config": f"```yaml\n{OmegaConf.to_yaml(cfg, resolve=True)}```",
             "run/command": f"```\n{command}\n```\n\n`{' '.join(map(shlex.quote, sys.argv))}`"}
    return BoardView(swept=swept_settings(overrides, hparam_names), figures_every=cfg.train.figures_every,
                     epochs=cfg.train.epochs, seed=cfg.seed, texts=texts, val=splits.val)


def outputs_root(run_dir: Path) -> Path:
    """Where this app's runs live: ``outputs/`` of the launch folder under Hydra, else ``run_dir``'s grandparent.

    ``resume=true`` searches only here, so a custom ``hydra.run.dir`` never makes it pick another run.
    """
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd) / "outputs"
    return run_dir.parents[1]


def find_resume_checkpoint(resume: Any, root: Path, run_dir: Path) -> Path | None:
    """``resume``: false, a checkpoint file or run dir, or true for the newest ``root/*/*/last.pt``."""
    if resume is False or resume is None:
        return None
    if resume is True:
        candidates = [p for p in root.glob("*/*/last.pt") if p.parent != run_dir]
        if not candidates:
            raise ConfigError("resume", f"resume=true: no last.pt under {root} to resume from; "
                              "give resume=RUN_DIR instead")
        return max(candidates, key=lambda p: p.stat().st_mtime)
    path = Path(resume)
    return path / "last.pt" if path.is_dir() else path


def last_good(run_dir: Path) -> str:
    """How an error message names the checkpoint to go back to."""
    last = run_dir / "last.pt"
    return f"the last good checkpoint is {last}" if last.is_file() else f"no checkpoint was saved in {run_dir}"


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, float]:
    """Train ``cfg`` into ``run_dir`` (default: Hydra's run dir); returns the final test metrics.

    Under torchrun this joins the process group, trains with DistributedDataParallel and leaves the
    group; a lost peer ends every other rank with ``PeerFailure`` within ``train.distributed.timeout_s``.
    """
    validate(cfg, training=True)
    run_dir = Path(run_dir or HydraConfig.get().runtime.output_dir)
    tune_malloc()
    threads = ThreadGovernor(cfg.train.threads)  # train.threads fixes the count; null: chosen from the load
    threads.start()
    set_matmul_precision(cfg.train.precision)
    d = cfg.train.distributed
    placement = dist.placement_from_env()
    device = dist.rank_device(resolve_device(cfg.train.device), placement)
    backend = dist.resolve_backend(d.backend, device)
    dist.check_sync_batchnorm(d.sync_batchnorm, backend)
    split_batch(cfg.train.batch_size, placement.world_size, d.batch_scope)
    # signals from here on stop at a safe point (raising Stopped), even during data loading
    with StopRequest() as stop, dist.process_group(placement, backend, d.timeout_s):
        try:
            return run_training(cfg, run_dir, device, stop, threads)
        except Stopped:
            raise
        except Exception as exc:
            failure = dist.peer_failure(exc, d.timeout_s)
            if failure is None:
                raise
            log.error("%s; %s", failure, last_good(run_dir))
            raise failure from exc


def load_splits(cfg: DictConfig) -> Splits:
    """The run's train/val/test datasets (rank 0 prepares the cache first, the others then read it)."""
    with dist.main_first(cfg.train.distributed.prepare_timeout_s):
        train_set, test_set = prepare_data(cfg.data, progress=dist.is_main())
    splits = build_splits(train_set, test_set, data_settings(cfg.data), seed=cfg.seed)
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


def run_training(cfg: DictConfig, run_dir: Path, device: torch.device,
                 stop: StopRequest | None = None, threads: ThreadGovernor | None = None) -> dict[str, float]:
    """Data, state, loop and the final test, in the process group if any."""
    resume_from = dist.on_main(find_resume_checkpoint, cfg.resume, outputs_root(run_dir), run_dir)
    splits = load_splits(cfg)
    seed_everything(cfg.seed)
    rank_batch, global_batch = split_batch(cfg.train.batch_size, dist.world_size(), cfg.train.distributed.batch_scope)
    check_batch_fits(global_batch, len(splits.train), cfg.data.val_fraction)
    apply_budget(cfg, splits, global_batch)
    plan = recipe(cfg)
    state = TrainingState(model_args(cfg, len(splits.classes)), splits.classes, plan, global_batch, device,
                          plain_dict(cfg))
    net = dist.data_parallel(state.model, device)
    if plan.train.compile:  # the first steps compile (about a minute on CPU); checkpoints keep `model`
        mode = plan.train.compile_mode  # reduce-overhead: CUDA graphs (static shapes: training drops the last batch)
        compiled = torch.compile(net, mode=None if mode == "default" else mode)
        assert isinstance(compiled, torch.nn.Module)  # a module compiles to an OptimizedModule
        net = compiled
    if dist.active():
        log.info("rank %d of %d on %s: batch %d per rank, %d global, lr %g", dist.rank(), dist.world_size(),
                 device, rank_batch, global_batch, state.lr)
    if resume_from is not None:
        state.restore(resume_from, may_differ=resume_may_differ())
        if resume_from.parent != run_dir:  # only once accepted: a refused resume leaves the other run alone
            log.info("continuing %s in its own run dir", resume_from.parent)
            move_into(run_dir, resume_from.parent)
            run_dir = resume_from.parent
    if dist.rank() > 0:  # ranks > 0 get their own dropout stream (rank 0 keeps the single-process one)
        torch.manual_seed(rank_seed(cfg.seed, dist.rank(), state.progress.global_step))
    reporter = None
    # TensorBoard hides events at steps >= purge_step: those after the checkpoint's last step, whose own
    # events (its step loss, an epoch row logged at that step) were written before it was saved
    purge = state.progress.global_step + 1 if resume_from else None
    if dist.rank() == 0:
        settings = hparams(cfg, dist.world_size(), global_batch)
        reporter = RunReport(run_dir, splits.test, splits.classes, settings, cfg.train.num_clouds,
                             purge_step=purge,
                             shapes={"train": len(splits.train), "val": len(splits.val or []),
                                     "test": len(splits.test)},
                             view=board_view(cfg, splits, settings))
        show_up_axis(cfg.data, splits, run_dir, reporter.board)
    loop = TrainingLoop(state, net, splits, plan, run_dir, device, rank_batch, reporter, stop, threads,
                        started=process_start_time() or time.time())
    try:
        return loop.run()
    except NonFiniteLossError as exc:
        log.error("%s; %s", exc, last_good(run_dir))
        raise


def check_sweep_objective(cfg: DictConfig) -> None:
    """A sweeper that optimises what ``main`` returns (Optuna) needs a validation split: refuse it before work."""
    sweeper = str(HydraConfig.get().sweeper.get("_target_", "")) if HydraConfig.initialized() else ""
    if "optuna" in sweeper.lower() and not cfg.data.val_fraction:
        raise ConfigError("data.val_fraction", "the Optuna sweeper maximises the validation accuracy, which needs "
                          "a validation split: set it > 0 (e.g. 0.1)")


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="train")
@app_main("train")
def main(cfg: DictConfig) -> float | None:
    """Train; return the last epoch's validation accuracy, the objective a sweeper maximises.

    The test accuracy stays in ``metrics.json`` and TensorBoard: choosing settings by it would fit the test set.
    Exit codes: 0 done; 130 / 143 stopped by SIGINT / SIGTERM after saving ``last.pt``; 2 a refused
    setting; 1 a refused checkpoint, an unusable data set, a full disk, a non-finite loss or a lost peer
    (one line, no traceback).
    """
    check_sweep_objective(cfg)
    return train(cfg).get("val/acc")


if __name__ == "__main__":
    # the importable module's main, so launchers that pickle the task function (submitit) pickle a
    # reference to pointnet.apps.train.main, not this __main__ copy by value
    import importlib

    importlib.import_module("pointnet.apps.train").main()
