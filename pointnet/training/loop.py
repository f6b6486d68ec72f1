"""The epoch loop: train, validate, keep the best checkpoint, and test the last and best models.

``TrainingLoop`` moves a ``TrainingState`` forward one epoch at a time, saving ``last.pt`` after
each epoch (and on a stop request, at a step boundary) and ``best.pt`` when validation improves.
What people look at goes through a ``Reporter`` (``pointnet.reporting.run_report`` on rank 0,
the silent base ``Reporter`` elsewhere), so this module knows nothing of TensorBoard or figures.
"""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from pointnet.data.holdout import Splits
from pointnet.training import distributed as dist
from pointnet.training.batching import make_loader
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.device_batches import DeviceBatches, use_device_batches
from pointnet.training.epoch import EpochStats, train_one_epoch
from pointnet.training.evaluation import evaluate
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.optim import bn_momentum, set_bn_momentum
from pointnet.training.precision import precision
from pointnet.training.runtime import ThreadGovernor
from pointnet.training.settings import Recipe
from pointnet.training.state import TrainingState
from pointnet.training.stop import StopRequest

log = logging.getLogger(__name__)


class Reporter:
    """Where the loop sends what it measured. This base reports nothing (ranks other than 0);
    ``pointnet.reporting.run_report.RunReport`` writes TensorBoard and files."""

    def step(self, values: dict[str, float], step: int) -> None: ...

    def epoch(self, row: dict[str, float], step: int) -> None: ...

    def finish(self, metrics: dict[str, float], last: ConfusionMatrix, state: TrainingState) -> None: ...

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


class TrainingLoop:
    """Epochs over ``splits`` for ``state``, writing checkpoints into ``run_dir``.

    ``net`` is what trains: ``state.model`` itself, or it wrapped in DistributedDataParallel or
    compiled (same parameters); evaluation and checkpoints use the plain ``state.model``.
    """

    def __init__(self, state: TrainingState, net: nn.Module, splits: Splits, recipe: Recipe, run_dir: Path,
                 device: torch.device, rank_batch: int, reporter: Reporter | None = None,
                 threads: ThreadGovernor | None = None) -> None:
        """``threads``: re-decides the CPU thread count each epoch and when steps slow down (None: never)."""
        self.state, self.net, self.splits, self.recipe = state, net, splits, recipe
        self.threads = threads
        self.run_dir, self.device = run_dir, device
        self.rank, self.world_size = dist.rank(), dist.world_size()
        self.reporter = reporter or Reporter()
        self.stop = StopRequest()
        t = recipe.train
        if use_device_batches(t.device_data, device, t.num_workers):  # clouds stay on the device
            self.train_loader = DeviceBatches(splits.train, rank_batch, device, dtype=precision(t.precision).parameters,
                                              num_replicas=self.world_size, rank=self.rank)
        else:
            self.train_loader = make_loader(splits.train, rank_batch, train=True, seed=recipe.seed,
                                            num_workers=t.num_workers, num_replicas=self.world_size, rank=self.rank)

    def run(self) -> dict[str, float]:
        """Train the remaining epochs and test; ``{}`` when stopped early (``last.pt`` then holds the state)."""
        with self.stop:
            try:
                while self.state.progress.epoch < self.recipe.train.epochs:
                    self.train_epoch()
                return self.finish()
            except KeyboardInterrupt:
                path = self.state.save(self.run_dir / "last.pt")
                p = self.state.progress
                if self.rank == 0:
                    log.warning("interrupted: saved %s (epoch %d, batch %d); continue with resume=%s", path,
                                p.epoch + 1, p.batch, path)
                return {}
            finally:
                self.reporter.close()

    def train_epoch(self) -> None:
        p, t = self.state.progress, self.recipe.train
        momentum = bn_momentum(p.epoch, **asdict(t.bn_momentum))
        set_bn_momentum(self.state.model, momentum)
        self.splits.train.set_epoch(p.epoch)
        self.train_loader.batch_sampler.set_epoch(p.epoch, skip=p.batch)
        lr = self.state.optimizer.param_groups[0]["lr"]
        if self.threads is not None and p.epoch > 0:
            self.threads.update()

        def on_step(index: int, loss: float, reg: float, acc: float) -> None:
            if self.threads is not None:
                self.threads.observe_step()
            p.batch += 1
            p.global_step += 1
            if p.global_step % t.log_every == 0:
                self.reporter.step({"train/step_loss": loss, "train/step_reg_loss": reg}, p.global_step)
            if dist.any_rank(self.stop.requested):  # every rank stops after the same step
                raise KeyboardInterrupt

        stats = train_one_epoch(self.net, self.train_loader, self.state.optimizer, reg_weight=t.reg_weight,
                                device=self.device, on_step=on_step,
                                description=f"epoch {p.epoch + 1}/{t.epochs}", progress=self.rank == 0,
                                precision=t.precision)
        stats = reduce_epoch_stats(stats)
        dist.broadcast_module(self.state.model)  # rank 0's BatchNorm running statistics everywhere, as saved
        self.state.scheduler.step()
        row = {"epoch": p.epoch + 1, "train/loss": stats.loss, "train/reg_loss": stats.reg_loss,
               "train/acc": stats.accuracy, "lr": lr, "bn_momentum": momentum,
               "perf/samples_per_s": stats.samples_per_second, "perf/data_share": stats.data_share,
               "perf/epoch_seconds": stats.seconds}
        row.update(self.validate())
        p.epoch, p.batch = p.epoch + 1, 0
        p.history.append(row)
        self.reporter.epoch(row, p.global_step)
        self.state.save(self.run_dir / "last.pt")
        self.keep_best(row)
        log.info(" ".join(f"{k}={v:.4g}" for k, v in row.items()))

    def evaluate(self, dataset, description: str) -> ConfusionMatrix:
        """Counts over every shape of ``dataset`` exactly once: each rank its exact shard, then summed."""
        loader = make_loader(dataset, self.recipe.eval_batch_size, train=False, seed=self.recipe.seed,
                             num_workers=0, num_replicas=self.world_size, rank=self.rank)
        cm = evaluate(self.state.model, loader, len(self.splits.classes), device=self.device,
                      reg_weight=self.recipe.train.reg_weight, description=description, progress=self.rank == 0,
                      precision=self.recipe.train.precision)
        return dist.all_reduce_confusion(cm)

    def validate(self) -> dict[str, float]:
        if self.splits.val is None:
            return {}
        cm = self.evaluate(self.splits.val, "val")
        return {"val/loss": cm.loss, "val/acc": cm.accuracy, "val/mean_class_acc": cm.mean_class_accuracy}

    def keep_best(self, row: dict[str, float]) -> None:
        score = (row.get("val/acc", row["train/acc"]), -row.get("val/loss", row["train/loss"]))
        if score > tuple(self.state.progress.best_val):
            self.state.progress.best_val = score
            self.state.save(self.run_dir / "best.pt")

    def finish(self) -> dict[str, float]:
        """Test the last and the best model (every rank); the reporter writes the outputs (rank 0)."""
        last = self.evaluate(self.splits.test, "test (last)")
        metrics = {"test/acc": last.accuracy, "test/mean_class_acc": last.mean_class_accuracy}
        best_path = self.run_dir / "best.pt"
        if dist.on_main(best_path.exists):
            model = self.state.model
            model.load_state_dict(dist.on_main(lambda: load_checkpoint(best_path)["model"]))
            best = self.evaluate(self.splits.test, "test (best)")
            metrics.update({"test/best_acc": best.accuracy, "test/best_mean_class_acc": best.mean_class_accuracy})
            model.load_state_dict(dist.on_main(lambda: load_checkpoint(self.run_dir / "last.pt")["model"]))
        history = self.state.progress.history
        if history and "val/acc" in history[-1]:
            metrics["val/acc"] = history[-1]["val/acc"]
        self.reporter.finish(metrics, last, self.state)
        return metrics
