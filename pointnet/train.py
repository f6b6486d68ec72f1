"""``pointnet-train``: a thin ``@hydra.main`` over a plain ``train(cfg)``.

``train`` validates the config, prepares the data (generating the offline set on first use), builds
the model and runs the epochs; every piece below it takes plain arguments. Outputs (TensorBoard
events, ``last.pt`` / ``best.pt``, confusion matrix image, ``metrics.json``) go to Hydra's run dir.

Under ``torchrun`` the same code trains with DistributedDataParallel (``pointnet.distributed``): each
rank trains on its shard of every epoch, evaluation counts every shape once over all ranks, and only
rank 0 writes outputs. Checkpoints hold the unwrapped model, so they load anywhere.
"""
from __future__ import annotations

import json
import logging
import random
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from pointnet import distributed as dist
from pointnet.board import RunBoard, confusion_figure, save_figure
from pointnet.batching import make_loader, split_batch
from pointnet.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from pointnet.config import register_configs, validate
from pointnet.engine import EpochStats, NonFiniteLossError, evaluate, train_one_epoch
from pointnet.metrics import ConfusionMatrix
from pointnet.model import PointNet
from pointnet.optim import bn_momentum, build_optimizer, build_scheduler, set_bn_momentum
from pointnet.runtime import set_threads, tune_malloc
from pointnet.apps import augmentation, prepare_data
from pointnet.datasets import Splits, build_splits

log = logging.getLogger(__name__)
register_configs()


@dataclass
class Progress:
    """Where a run stands: ``epoch`` in progress (0-based) and batches of it already done."""

    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    best_val: tuple[float, float] = (-1.0, float("-inf"))  # (val acc, -val loss): higher is better
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of rank ``rank`` > 0 from step ``step`` on (its dropout masks differ from rank 0's)."""
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) & (2**63 - 1)


def scaled_lr(lr: float, scaling: str, global_batch: int, batch_size: int) -> float:
    """``train.lr`` under ``train.distributed.lr_scaling``: ``linear`` scales it by global batch / ``batch_size``."""
    return lr * global_batch / batch_size if scaling == "linear" else lr


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_args(cfg: DictConfig, num_classes: int) -> dict[str, Any]:
    """The plain constructor arguments of ``PointNet``, also stored in checkpoints."""
    return dict(num_classes=num_classes, **OmegaConf.to_container(cfg.model, resolve=True))


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


class StopRequest:
    """Turns SIGINT/SIGTERM into a stop at the next step boundary, so the saved state is consistent.

    A second Ctrl-C interrupts at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: keep the default behaviour
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


class QuietBoard:
    """What ranks other than 0 log to TensorBoard: nothing."""

    def scalars(self, *args: Any) -> None: ...

    def confusion(self, *args: Any) -> None: ...

    def clouds(self, *args: Any) -> None: ...

    def hparams(self, *args: Any) -> None: ...

    def close(self) -> None: ...


def reduce_epoch_stats(stats: EpochStats) -> EpochStats:
    """Means over every rank's samples (the wall time stays this rank's)."""
    if not dist.active():
        return stats
    n = stats.samples
    sums = dist.all_reduce_sum(torch.tensor([stats.loss * n, stats.reg_loss * n, stats.accuracy * n, n,
                                             stats.data_seconds], dtype=torch.float64)).tolist()
    total = max(sums[3], 1.0)
    return EpochStats(sums[0] / total, sums[1] / total, sums[2] / total, int(sums[3]), stats.seconds,
                      sums[4] / dist.world_size())


class Run:
    """The state of one training run and the steps that move it forward.

    ``model`` is the plain network (checkpoints, evaluation); ``net`` is what trains: ``model`` itself,
    or ``model`` wrapped in DistributedDataParallel under torchrun (same parameters).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, splits: Splits, device: torch.device) -> None:
        self.cfg, self.run_dir, self.splits, self.device = cfg, run_dir, splits, device
        t, d = cfg.train, cfg.train.distributed
        self.rank, self.world_size = dist.rank(), dist.world_size()
        self.rank_batch, self.global_batch = split_batch(t.batch_size, self.world_size, d.batch_scope)
        self.lr = scaled_lr(t.lr, d.lr_scaling, self.global_batch, t.batch_size)
        self.model_args = model_args(cfg, len(splits.classes))
        self.model = PointNet(**self.model_args).to(device=device, dtype=getattr(torch, cfg.train.precision))
        if d.sync_batchnorm and dist.active():
            dist.use_sync_batchnorm(self.model)
            self.model.fast = False  # the fused fast path computes BatchNorm statistics itself, per rank
        self.optimizer = build_optimizer(cfg.optimizer.name, self.model.parameters(), self.lr,
                                         cfg.optimizer.weight_decay, cfg.optimizer.momentum)
        s = cfg.scheduler
        self.scheduler = build_scheduler(s.name, self.optimizer, t.epochs, s.step_size, s.gamma, s.min_lr)
        self.net = dist.data_parallel(self.model, device)
        if t.compile:  # the first steps compile (about a minute on CPU); checkpoints keep `model`
            self.net = torch.compile(self.net)
        self.progress = Progress()
        self.train_loader = make_loader(splits.train, self.rank_batch, train=True, seed=cfg.seed,
                                        num_workers=t.num_workers, num_replicas=self.world_size, rank=self.rank)
        self.board: RunBoard | QuietBoard = QuietBoard()
        self.stop = StopRequest()

    def state(self) -> dict[str, Any]:
        p = self.progress
        return {
            "model": self.model.state_dict(),
            "model_args": self.model_args,
            "classes": list(self.splits.classes),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "progress": {"epoch": p.epoch, "batch": p.batch, "global_step": p.global_step,
                         "best_val": list(p.best_val), "history": p.history,
                         "global_batch": self.global_batch, "lr_factor": self.lr / self.cfg.train.lr,
                         "world_size": self.world_size},
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def restore(self, path: Path) -> None:
        """Continue from ``path`` (read by rank 0, sent to the others), under any world size.

        With another global batch than the checkpoint's (``batch_scope=per_rank`` and another world
        size), the done part of the epoch is converted to whole batches of the new size, rounding
        down (a few shapes may be seen twice), and a linearly scaled learning rate is rescaled.
        """
        state = dist.on_main(load_checkpoint, path)
        if state["classes"] != list(self.splits.classes):
            raise ValueError(f"{path}: trained on classes {state['classes']}, data has {self.splits.classes}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        p = state["progress"]
        batch = p["batch"] * p.get("global_batch", self.global_batch) // self.global_batch
        self.progress = Progress(p["epoch"], batch, p["global_step"], tuple(p["best_val"]), p["history"])
        factor = self.lr / self.cfg.train.lr
        self.rescale_lr(factor / p.get("lr_factor", factor))
        log.info("resumed from %s at epoch %d, batch %d (saved by %d rank(s), now %d)", path, p["epoch"] + 1,
                 batch, p.get("world_size", 1), self.world_size)

    def rescale_lr(self, factor: float) -> None:
        """Multiply the learning rate (current, initial and the scheduler's base) by ``factor``."""
        if factor == 1.0:
            return
        for group in self.optimizer.param_groups:
            group["lr"] *= factor
            if "initial_lr" in group:
                group["initial_lr"] *= factor
        self.scheduler.base_lrs = [lr * factor for lr in self.scheduler.base_lrs]
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def seed_rank(self) -> None:
        """Give ranks > 0 their own dropout stream (rank 0 keeps the single-process one)."""
        if self.rank > 0:
            torch.manual_seed(rank_seed(self.cfg.seed, self.rank, self.progress.global_step))

    def save(self, name: str = "last.pt") -> Path:
        """Write a checkpoint (rank 0 only: every rank holds the same weights)."""
        path = self.run_dir / name
        return save_checkpoint(self.state(), path) if self.rank == 0 else path

    def evaluate(self, dataset, description: str) -> ConfusionMatrix:
        """Counts over every shape of ``dataset`` exactly once: each rank its exact shard, then summed."""
        loader = make_loader(dataset, self.cfg.eval.batch_size, train=False, seed=self.cfg.seed, num_workers=0,
                             num_replicas=self.world_size, rank=self.rank)
        cm = evaluate(self.model, loader, len(self.splits.classes), device=self.device,
                      reg_weight=self.cfg.train.reg_weight, description=description, progress=self.rank == 0)
        return dist.all_reduce_confusion(cm)

    def train_epoch(self) -> None:
        p, t = self.progress, self.cfg.train
        momentum = bn_momentum(p.epoch, **OmegaConf.to_container(t.bn_momentum))
        set_bn_momentum(self.model, momentum)
        self.splits.train.set_epoch(p.epoch)
        self.train_loader.batch_sampler.set_epoch(p.epoch, skip=p.batch)
        lr = self.optimizer.param_groups[0]["lr"]

        def on_step(index: int, loss: float, reg: float, acc: float) -> None:
            p.batch += 1
            p.global_step += 1
            if p.global_step % t.log_every == 0:
                self.board.scalars({"train/step_loss": loss, "train/step_reg_loss": reg}, p.global_step)
            if dist.any_rank(self.stop.requested):  # every rank stops after the same step
                raise KeyboardInterrupt

        stats = train_one_epoch(self.net, self.train_loader, self.optimizer, reg_weight=t.reg_weight,
                                device=self.device, on_step=on_step,
                                description=f"epoch {p.epoch + 1}/{t.epochs}", progress=self.rank == 0)
        stats = reduce_epoch_stats(stats)
        dist.broadcast_module(self.model)  # rank 0's BatchNorm running statistics everywhere, as saved
        self.scheduler.step()
        row = {"epoch": p.epoch + 1, "train/loss": stats.loss, "train/reg_loss": stats.reg_loss,
               "train/acc": stats.accuracy, "lr": lr, "bn_momentum": momentum,
               "perf/samples_per_s": stats.samples_per_second, "perf/data_share": stats.data_share,
               "perf/epoch_seconds": stats.seconds}
        row.update(self.validate())
        p.epoch, p.batch = p.epoch + 1, 0
        p.history.append(row)
        self.board.scalars(row, p.global_step)
        self.save("last.pt")
        self.keep_best(row)
        log.info(" ".join(f"{k}={v:.4g}" for k, v in row.items()))

    def validate(self) -> dict[str, float]:
        if self.splits.val is None:
            return {}
        cm = self.evaluate(self.splits.val, "val")
        return {"val/loss": cm.loss, "val/acc": cm.accuracy, "val/mean_class_acc": cm.mean_class_accuracy}

    def keep_best(self, row: dict[str, float]) -> None:
        score = (row.get("val/acc", row["train/acc"]), -row.get("val/loss", row["train/loss"]))
        if score > tuple(self.progress.best_val):
            self.progress.best_val = score
            self.save("best.pt")

    def finish(self) -> dict[str, float]:
        """Test the last and the best model (every rank); figures, hparams and ``metrics.json`` (rank 0)."""
        last = self.evaluate(self.splits.test, "test (last)")
        metrics = {"test/acc": last.accuracy, "test/mean_class_acc": last.mean_class_accuracy}
        best_path = self.run_dir / "best.pt"
        if dist.on_main(best_path.exists):
            self.model.load_state_dict(dist.on_main(lambda: load_checkpoint(best_path)["model"]))
            best = self.evaluate(self.splits.test, "test (best)")
            metrics.update({"test/best_acc": best.accuracy, "test/best_mean_class_acc": best.mean_class_accuracy})
        history = self.progress.history
        if history and "val/acc" in history[-1]:
            metrics["val/acc"] = history[-1]["val/acc"]
        if self.rank == 0:
            self.write_outputs(metrics, last)
        return metrics

    def write_outputs(self, metrics: dict[str, float], last: ConfusionMatrix) -> None:
        """TensorBoard test scalars, figures, hparams and ``metrics.json`` (rank 0's job)."""
        classes, history, step = self.splits.classes, self.progress.history, self.progress.global_step
        self.board.scalars({k: v for k, v in metrics.items() if k != "val/acc"}, step)
        self.board.confusion("test/confusion_matrix", last.matrix, classes, step)
        save_figure(confusion_figure(last.matrix, classes, "test confusion (last epoch)"),
                    self.run_dir / "confusion_test.png")
        self.log_clouds(step)
        self.board.hparams(self.hparams(), metrics)
        (self.run_dir / "metrics.json").write_text(json.dumps(
            {**metrics, "test/shapes": last.total, "test/confusion": last.matrix.tolist(), "history": history},
            indent=2))
        log.info("test accuracy %.4f (mean class %.4f), last epoch\n%s", last.accuracy,
                 last.mean_class_accuracy, last.table(classes))

    def log_clouds(self, step: int) -> None:
        n = min(self.cfg.train.num_clouds, len(self.splits.test))
        if n == 0:
            return
        self.model.load_state_dict(load_checkpoint(self.run_dir / "last.pt", self.device)["model"])
        self.model.eval()
        items = [self.splits.test[i * len(self.splits.test) // n] for i in range(n)]
        points = torch.stack([pts for pts, _ in items])  # (n, N, 3)
        labels = torch.stack([label for _, label in items])
        with torch.no_grad():
            predicted = self.model(points.to(self.device, self.model.classifier.weight.dtype))[0].argmax(dim=1).cpu()
        names = [self.splits.classes[int(c)] for c in labels]
        self.board.clouds("test/clouds", points, (predicted == labels).tolist(), names, step)

    def hparams(self) -> dict[str, object]:
        c = self.cfg
        return {"variant": c.model.shared_mlp, "fast": c.model.fast, "lr": c.train.lr,
                "batch_size": c.train.batch_size, "points": c.data.num_points, "epochs": c.train.epochs,
                "seed": c.seed, "data": c.data.name, "optimizer": c.optimizer.name, "scheduler": c.scheduler.name,
                "world_size": self.world_size, "global_batch": self.global_batch}


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, float]:
    """Train ``cfg`` into ``run_dir`` (default: Hydra's run dir); returns the final test metrics.

    Under torchrun this joins the process group, trains with DistributedDataParallel and leaves the
    group; a lost peer ends every other rank with ``PeerFailure`` within ``train.distributed.timeout_s``.
    """
    validate(cfg, training=True)
    run_dir = Path(run_dir or HydraConfig.get().runtime.output_dir)
    tune_malloc()
    set_threads(cfg.train.threads)
    d = cfg.train.distributed
    placement = dist.placement_from_env()
    device = dist.rank_device(resolve_device(cfg.train.device), placement)
    backend = dist.resolve_backend(d.backend, device)
    dist.check_sync_batchnorm(d.sync_batchnorm, backend)
    split_batch(cfg.train.batch_size, placement.world_size, d.batch_scope)
    with dist.process_group(placement, backend, d.timeout_s):
        try:
            return run_training(cfg, run_dir, device)
        except Exception as exc:
            failure = dist.peer_failure(exc, d.timeout_s)
            if failure is None:
                raise
            log.error("%s; the last complete checkpoint is %s", failure, run_dir / "last.pt")
            raise failure from exc


def run_training(cfg: DictConfig, run_dir: Path, device: torch.device) -> dict[str, float]:
    """Data (prepared by rank 0 first), model, epochs and the final test, in the process group if any."""
    resume_from = dist.on_main(find_resume_checkpoint, cfg.resume, run_dir)
    if resume_from is not None and resume_from.parent != run_dir:
        log.info("continuing %s in its own run dir", resume_from.parent)
        run_dir = resume_from.parent
    with dist.main_first(cfg.train.distributed.prepare_timeout_s):
        train_set, test_set = prepare_data(cfg.data, progress=dist.is_main())
    splits = build_splits(train_set, test_set, num_points=cfg.data.num_points, val_fraction=cfg.data.val_fraction,
                          augment=augmentation(cfg.data.augment), seed=cfg.seed)
    log.info("data %s: %d train, %d val, %d test shapes, %d classes", cfg.data.name, len(splits.train),
             len(splits.val or []), len(splits.test), len(splits.classes))
    seed_everything(cfg.seed)
    run = Run(cfg, run_dir, splits, device)
    if dist.active():
        log.info("rank %d of %d on %s: batch %d per rank, %d global, lr %g", run.rank, run.world_size, device,
                 run.rank_batch, run.global_batch, run.lr)
    if resume_from is not None:
        run.restore(resume_from)
    run.seed_rank()
    if run.rank == 0:
        run.board = RunBoard(run_dir / "tensorboard", purge_step=run.progress.global_step if resume_from else None)
    with run.stop:
        try:
            while run.progress.epoch < cfg.train.epochs:
                run.train_epoch()
            return run.finish()
        except KeyboardInterrupt:
            path = run.save("last.pt")
            if run.rank == 0:
                log.warning("interrupted: saved %s (epoch %d, batch %d); continue with resume=%s", path,
                            run.progress.epoch + 1, run.progress.batch, path)
            return {}
        except NonFiniteLossError as exc:
            log.error("%s; the last good checkpoint is %s", exc, run_dir / "last.pt")
            raise
        finally:
            run.board.close()


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return metrics.get("test/acc")


if __name__ == "__main__":
    main()
