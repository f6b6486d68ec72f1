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
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.common import output_dir, resolve_device
from pointnet.apps.config import validate
from pointnet.apps.preflight import plain_dict, settings_object
from pointnet.apps.run_data import apply_budget, check_batch_fits, load_splits
from pointnet.apps.run_view import board_view
from pointnet.apps.rundir import find_resume_checkpoint, last_good, move_into, outputs_root
from pointnet.apps.schema import hparams, register_configs, resume_may_differ
from pointnet.apps.up_axis_check import show_up_axis
from pointnet.errors import ConfigError
from pointnet.reporting.run_report import RunReport
from pointnet.runtime.malloc import tune_malloc
from pointnet.runtime.process import process_start_time
from pointnet.runtime.threads import ThreadGovernor
from pointnet.training import distributed as dist
from pointnet.training.batching import split_batch
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.loop import TrainingLoop
from pointnet.training.precision import set_matmul_precision
from pointnet.training.seeding import rank_seed, seed_everything
from pointnet.training.settings import OptimizerSettings, Recipe, SchedulerSettings, TrainSettings
from pointnet.training.state import TrainingState
from pointnet.training.stop import Stopped, StopRequest

log = logging.getLogger(__name__)
register_configs()


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


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, float]:
    """Train ``cfg`` into ``run_dir`` (default: Hydra's run dir); returns the final test metrics.

    Under torchrun this joins the process group, trains with DistributedDataParallel and leaves the
    group; a lost peer ends every other rank with ``PeerFailure`` within ``train.distributed.timeout_s``.
    """
    validate(cfg, training=True)
    run_dir = Path(run_dir) if run_dir else output_dir()
    tune_malloc()
    threads = ThreadGovernor(cfg.runtime.threads)  # runtime.threads fixes the count; null: chosen from the load
    threads.start()
    set_matmul_precision(cfg.train.precision)
    d = cfg.train.distributed
    placement = dist.placement_from_env()
    device = dist.rank_device(resolve_device(cfg.runtime.device), placement)
    backend = dist.resolve_backend(d.backend, device)
    dist.check_sync_batchnorm(d.sync_batchnorm, backend)
    batches = split_batch(cfg.train.batch_size, placement.world_size, d.batch_scope)  # (per rank, global)
    # signals from here on stop at a safe point (raising Stopped), even during data loading
    with StopRequest() as stop, dist.process_group(placement, backend, d.timeout_s):
        try:
            return run_training(cfg, run_dir, device, batches, stop, threads)
        except Stopped:
            raise
        except Exception as exc:
            failure = dist.peer_failure(exc, d.timeout_s)
            if failure is None:
                raise
            log.error("%s; %s", failure, last_good(run_dir))
            raise failure from exc


def run_training(cfg: DictConfig, run_dir: Path, device: torch.device, batches: tuple[int, int],
                 stop: StopRequest | None = None, threads: ThreadGovernor | None = None) -> dict[str, float]:
    """Data, state, loop and the final test, in the process group if any; ``batches``: per rank and global."""
    resume_from = dist.on_main(find_resume_checkpoint, cfg.resume, outputs_root(run_dir), run_dir)
    splits = load_splits(cfg)
    seed_everything(cfg.seed)
    rank_batch, global_batch = batches
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
