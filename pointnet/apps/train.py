"""``pointnet-train``: a thin ``@hydra.main`` over a plain ``train(cfg)``.

``train`` validates the config, prepares the data (generating the offline set on first use), builds
the training state and hands it to ``pointnet.training.loop``; every piece below it takes plain
arguments. Outputs (TensorBoard events, ``last.pt`` / ``best.pt``, confusion matrix image,
``metrics.json``) go to Hydra's run dir.

Under ``torchrun`` the same code trains with DistributedDataParallel (``pointnet.training.distributed``):
each rank trains on its shard of every epoch, evaluation counts every shape once over all ranks, and
only rank 0 writes outputs. Checkpoints hold the unwrapped model, so they load anywhere.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: passive OpenMP waiting, set before torch loads (pointnet.apps.openmp)
    from pointnet.apps.openmp import quiet_openmp
    quiet_openmp()

import logging
import random
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pointnet.apps.common import augmentation, prepare_data
from pointnet.apps.config import register_configs, validate
from pointnet.data.holdout import Splits, build_splits
from pointnet.reporting.run_report import RunReport
from pointnet.training import distributed as dist
from pointnet.training.batching import split_batch
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.loop import TrainingLoop
from pointnet.training.precision import set_matmul_precision
from pointnet.training.runtime import ThreadGovernor, tune_malloc
from pointnet.training.settings import Recipe
from pointnet.training.state import TrainingState

log = logging.getLogger(__name__)
register_configs()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of rank ``rank`` > 0 from step ``step`` on (its dropout masks differ from rank 0's)."""
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) & (2**63 - 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_args(cfg: DictConfig, num_classes: int) -> dict[str, Any]:
    """The plain constructor arguments of ``PointNet``, also stored in checkpoints."""
    return dict(num_classes=num_classes, **OmegaConf.to_container(cfg.model, resolve=True))


def recipe(cfg: DictConfig) -> Recipe:
    """The training layer's settings: instances of its own dataclasses, which the schema is built from."""
    return Recipe(train=OmegaConf.to_object(cfg.train), optimizer=OmegaConf.to_object(cfg.optimizer),
                  scheduler=OmegaConf.to_object(cfg.scheduler), seed=cfg.seed, eval_batch_size=cfg.eval.batch_size)


def hparams(cfg: DictConfig, world_size: int, global_batch: int) -> dict[str, object]:
    """The settings TensorBoard's HParams tab shows beside the final metrics."""
    c = cfg
    return {"variant": c.model.shared_mlp, "fast": c.model.fast, "lr": c.train.lr,
            "batch_size": c.train.batch_size, "points": c.data.num_points, "epochs": c.train.epochs,
            "seed": c.seed, "data": c.data.name, "optimizer": c.optimizer.name, "scheduler": c.scheduler.name,
            "world_size": world_size, "global_batch": global_batch}


def find_resume_checkpoint(resume: Any, run_dir: Path) -> Path | None:
    """``resume``: false, a checkpoint file or run dir, or true for the newest ``last.pt`` beside this run."""
    if resume is False or resume is None:
        return None
    if resume is True:
        candidates = [p for p in run_dir.parents[1].glob("*/*/last.pt") if p.parent != run_dir]
        if not candidates:
            raise FileNotFoundError(f"resume=true: no last.pt under {run_dir.parents[1]} to resume from")
        return max(candidates, key=lambda p: p.stat().st_mtime)
    path = Path(resume)
    return path / "last.pt" if path.is_dir() else path


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
    with dist.process_group(placement, backend, d.timeout_s):
        try:
            return run_training(cfg, run_dir, device, threads)
        except Exception as exc:
            failure = dist.peer_failure(exc, d.timeout_s)
            if failure is None:
                raise
            log.error("%s; the last complete checkpoint is %s", failure, run_dir / "last.pt")
            raise failure from exc


def load_splits(cfg: DictConfig) -> Splits:
    """The run's train/val/test datasets (rank 0 prepares the cache first, the others then read it)."""
    with dist.main_first(cfg.train.distributed.prepare_timeout_s):
        train_set, test_set = prepare_data(cfg.data, progress=dist.is_main())
    splits = build_splits(train_set, test_set, num_points=cfg.data.num_points, val_fraction=cfg.data.val_fraction,
                          augment=augmentation(cfg.data.augment), seed=cfg.seed)
    log.info("data %s: %d train, %d val, %d test shapes, %d classes", cfg.data.name, len(splits.train),
             len(splits.val or []), len(splits.test), len(splits.classes))
    return splits


def run_training(cfg: DictConfig, run_dir: Path, device: torch.device,
                 threads: ThreadGovernor | None = None) -> dict[str, float]:
    """Data, state, loop and the final test, in the process group if any."""
    resume_from = dist.on_main(find_resume_checkpoint, cfg.resume, run_dir)
    if resume_from is not None and resume_from.parent != run_dir:
        log.info("continuing %s in its own run dir", resume_from.parent)
        run_dir = resume_from.parent
    splits = load_splits(cfg)
    seed_everything(cfg.seed)
    plan = recipe(cfg)
    rank_batch, global_batch = split_batch(plan.train.batch_size, dist.world_size(),
                                           plan.train.distributed.batch_scope)
    state = TrainingState(model_args(cfg, len(splits.classes)), splits.classes, plan, global_batch, device,
                          OmegaConf.to_container(cfg, resolve=True))
    net = dist.data_parallel(state.model, device)
    if plan.train.compile:  # the first steps compile (about a minute on CPU); checkpoints keep `model`
        mode = plan.train.compile_mode  # reduce-overhead: CUDA graphs (static shapes: training drops the last batch)
        net = torch.compile(net, mode=None if mode == "default" else mode)
    if dist.active():
        log.info("rank %d of %d on %s: batch %d per rank, %d global, lr %g", dist.rank(), dist.world_size(),
                 device, rank_batch, global_batch, state.lr)
    if resume_from is not None:
        state.restore(resume_from)
    if dist.rank() > 0:  # ranks > 0 get their own dropout stream (rank 0 keeps the single-process one)
        torch.manual_seed(rank_seed(cfg.seed, dist.rank(), state.progress.global_step))
    reporter = None
    if dist.rank() == 0:
        reporter = RunReport(run_dir, splits.test, splits.classes, hparams(cfg, dist.world_size(), global_batch),
                             cfg.train.num_clouds, purge_step=state.progress.global_step if resume_from else None)
    loop = TrainingLoop(state, net, splits, plan, run_dir, device, rank_batch, reporter, threads)
    try:
        return loop.run()
    except NonFiniteLossError as exc:
        log.error("%s; the last good checkpoint is %s", exc, run_dir / "last.pt")
        raise


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return metrics.get("test/acc")


if __name__ == "__main__":
    main()
