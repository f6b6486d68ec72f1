"""The epoch loop: train, validate, keep the best checkpoint, and test the last and best models.

``TrainingLoop`` moves a ``TrainingState`` forward one epoch at a time, saving ``last.pt`` after
each epoch (and on a stop request, at a step boundary) and ``best.pt`` when validation improves.
On SIGINT/SIGTERM it saves and raises ``pointnet.training.stop.Stopped`` (the app exits 130/143).
What people look at goes through a ``Reporter`` (``pointnet.reporting.run_report`` on rank 0,
the silent base ``Reporter`` elsewhere), so this module knows nothing of TensorBoard or figures.
"""
from __future__ import annotations

import logging
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from pointnet.data.pipeline.holdout import Splits
from pointnet.nn.model import PointNet
from pointnet.runtime.threads import ThreadGovernor
from pointnet.training import distributed as dist
from pointnet.training.batching import epoch_sampler, make_loader
from pointnet.training.budget import early_epoch_count
from pointnet.training.checkpoint import load_checkpoint, load_weights
from pointnet.training.device_batches import set_points, training_batches
from pointnet.training.epoch import EpochStats, EpochTotals, Trainer
from pointnet.training.evaluation import EvaluationAbandoned, evaluate
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.optim import bn_momentum, set_bn_momentum
from pointnet.training.settings import Recipe
from pointnet.training.state import TrainingState
from pointnet.training.stop import StopAtBoundary, Stopped, StopRequest

log = logging.getLogger(__name__)


class Reporter:
    """Where the loop sends what it measured. This base reports nothing (ranks other than 0);
    ``pointnet.reporting.run_report.RunReport`` writes TensorBoard and files."""

    def step(self, values: dict[str, float], step: int) -> None: ...

    def epoch(self, row: dict[str, float], step: int) -> None: ...

    def validation(self, cm: ConfusionMatrix, model: PointNet, epoch: int, step: int) -> None:
        """The validation counts of ``epoch`` (1-based) and the model that produced them (do not train it)."""

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


def reduce_totals(t: EpochTotals) -> dict[str, float | int]:
    """The epoch's running sums over every rank, as a checkpoint carries them (``EpochTotals`` fields)."""
    sums = dist.all_reduce_sum(torch.tensor([t.loss, t.reg, t.correct, t.samples, t.data], dtype=torch.float64))
    loss, reg, correct, samples, data = sums.tolist()
    return {"loss": loss, "reg": reg, "correct": int(correct), "samples": int(samples), "data": data}


@contextmanager
def weights_of(model: nn.Module, path: Path, back: Path) -> Iterator[None]:
    """``model`` with the weights of checkpoint ``path`` (read by rank 0) for the block, then those of ``back``."""
    load_weights(model, dist.on_main(lambda: load_checkpoint(path)["model"]), path)
    try:
        yield
    finally:
        load_weights(model, dist.on_main(lambda: load_checkpoint(back)["model"]), back)


class TrainingLoop:
    """Epochs over ``splits`` for ``state``, writing checkpoints into ``run_dir``: only at safe points, after a
    step (mid-epoch, carrying the epoch's running sums) or after the epoch's end (validation, scheduler step,
    history row) as one unit. ``net`` is what trains: ``state.model`` itself, or it wrapped in DDP or compiled
    (same parameters); evaluation uses the plain ``state.evaluated`` (``state.model``, or its moving average
    with ``train.ema_decay``). ``stop``: the signal flags to honour (the app may enter it earlier, so a signal
    during data loading counts)."""

    def __init__(self, state: TrainingState, net: nn.Module, splits: Splits, recipe: Recipe, run_dir: Path,
                 device: torch.device, rank_batch: int, reporter: Reporter | None = None,
                 stop: StopRequest | None = None, threads: ThreadGovernor | None = None,
                 started: float | None = None) -> None:
        """``threads``: re-decides the CPU thread count each epoch and when steps slow down (None: never).
        ``started``: when the command began (``time.time()``), for the run's wall-clock seconds."""
        self.state, self.net, self.splits, self.recipe, self.started = state, net, splits, recipe, started
        self.threads, self.run_dir, self.device = threads, run_dir, device
        self.rank, self.world_size = dist.rank(), dist.world_size()
        self.reporter = reporter or Reporter()
        self.stop = stop or StopRequest()
        self.trainer = Trainer(net, state.optimizer, recipe.train, device, model=state.model, average=state.average,
                               progress=state.progress, report=self.reporter.step, threads=threads,
                               after_step=self.stop_point)  # every rank stops after the same step
        t = recipe.train
        self.full_points = splits.train.num_points
        self.early_epochs = early_epoch_count(t.epochs, t.early_fraction, t.early_points)
        self.train_loader = training_batches(splits.train, rank_batch, device, t, recipe.seed, self.world_size,
                                             self.rank)

    def run(self) -> dict[str, float]:
        """Train the remaining epochs and test; raises ``Stopped`` after saving on SIGINT/SIGTERM."""
        p = self.state.progress
        # a resumed epoch continues the sums its checkpoint carried (rank 0 holds every rank's)
        self.trainer.progress = p
        self.trainer.totals = EpochTotals(**p.partial) if p.partial and self.rank == 0 else EpochTotals()
        with self.stop:
            try:
                self.stop_point()
                while self.state.progress.epoch < self.recipe.train.epochs:
                    self.train_epoch()
                    if self.state.progress.epoch < self.recipe.train.epochs:
                        self.stop_point()
                return self.finish()
            except (StopAtBoundary, EvaluationAbandoned):
                path = self.save_last()
                p = self.state.progress
                if self.rank == 0:
                    log.warning("interrupted: saved %s (epoch %d, batch %d); continue with resume=%s", path,
                                p.epoch + 1, p.batch, self.run_dir)
                raise Stopped(self.stop.signum or signal.SIGINT, path) from None
            finally:
                self.reporter.close()

    def stop_asked(self) -> bool:
        """Whether any rank was asked to stop (a collective: every rank calls it at the same points)."""
        return dist.any_rank(self.stop.requested)

    def stop_point(self) -> None:
        """A safe point: raise ``StopAtBoundary`` if any rank was asked to stop."""
        if self.stop_asked():
            raise StopAtBoundary

    def save_last(self) -> Path:
        """``last.pt`` of the current state, with the running sums of every rank's part of the epoch."""
        t = self.trainer.totals
        self.state.progress.partial = reduce_totals(t) if t.samples else None
        return self.state.save(self.run_dir / "last.pt")

    def train_epoch(self) -> None:
        p, t = self.state.progress, self.recipe.train
        momentum = bn_momentum(p.epoch, **asdict(t.bn_momentum))
        set_bn_momentum(self.state.model, momentum)
        self.splits.train.set_epoch(p.epoch)
        points = t.early_points if p.epoch < self.early_epochs else self.full_points
        set_points(self.splits.train, self.train_loader, points)
        epoch_sampler(self.train_loader).set_epoch(p.epoch, skip=p.batch)
        lr = self.state.optimizer.param_groups[0]["lr"]
        if self.threads is not None and p.epoch > 0:
            self.threads.update()
        stats = self.trainer.epoch(self.train_loader, f"epoch {p.epoch + 1}/{t.epochs}", self.rank == 0)
        stats = reduce_epoch_stats(stats)
        dist.broadcast_module(self.state.model)  # rank 0's BatchNorm running statistics everywhere, as saved
        if self.state.average is not None:
            dist.broadcast_module(self.state.average.model)
        self.end_epoch(stats, lr, momentum)

    def end_epoch(self, stats: EpochStats, lr: float, momentum: float) -> None:
        """Validate, step the schedule, record the row, then save ``best.pt`` (if better) and ``last.pt``.

        ``best.pt`` is written before ``last.pt``, both holding the new ``best_val``: a crash between
        them replays this epoch from the previous ``last.pt``, never loses track of the best.
        """
        p = self.state.progress
        validation = self.validate()  # may be abandoned on a second signal: nothing below has happened yet
        with warnings.catch_warnings():  # a resumed epoch end has no optimizer.step() in this process
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler")
            self.state.scheduler.step()
        row = {"epoch": p.epoch + 1, "train/loss": stats.loss, "train/reg_loss": stats.reg_loss,
               "train/acc": stats.accuracy, "lr": lr, "bn_momentum": momentum,
               "perf/samples_per_s": stats.samples_per_second, "perf/data_share": stats.data_share,
               "perf/points": self.splits.train.num_points,
               "perf/epoch_seconds": stats.seconds, **validation}
        p.epoch, p.batch, p.partial = p.epoch + 1, 0, None
        self.trainer.totals = EpochTotals()
        p.history.append(row)
        self.reporter.epoch(row, p.global_step)
        self.keep_best(row)
        self.state.save(self.run_dir / "last.pt")
        log.info(" ".join(f"{k}={v:.4g}" for k, v in row.items()))

    def evaluate(self, dataset, description: str, abandon=None) -> ConfusionMatrix:
        """Counts over every shape of ``dataset`` exactly once: each rank its exact shard, then summed."""
        loader = make_loader(dataset, self.recipe.eval_batch_size, train=False, seed=self.recipe.seed,
                             num_workers=0, num_replicas=self.world_size, rank=self.rank)
        cm = evaluate(self.state.evaluated, loader, len(self.splits.classes), device=self.device,
                      reg_weight=self.recipe.train.reg_weight, description=description, progress=self.rank == 0,
                      abandon=abandon, precision=self.recipe.train.precision)
        return dist.all_reduce_confusion(cm)

    def validate(self) -> dict[str, float]:
        """Validation counts every ``train.val_every`` epochs and after the last (an empty dict otherwise)."""
        epoch, t = self.state.progress.epoch + 1, self.recipe.train
        if self.splits.val is None or (epoch % t.val_every and epoch < t.epochs):
            return {}
        cm = self.evaluate(self.splits.val, "val", abandon=lambda: dist.any_rank(self.stop.urgent))
        p = self.state.progress
        self.reporter.validation(cm, self.state.evaluated, p.epoch + 1, p.global_step)
        return {"val/loss": cm.loss, "val/acc": cm.accuracy, "val/mean_class_acc": cm.mean_class_accuracy}

    def keep_best(self, row: dict[str, float]) -> None:
        """``best.pt`` when this epoch's score beats the best: validation's, or training's without a
        validation split (an epoch that skipped validation is not compared)."""
        if self.splits.val is not None and "val/acc" not in row:
            return
        score = (row.get("val/acc", row["train/acc"]), -row.get("val/loss", row["train/loss"]))
        if score > tuple(self.state.progress.best_val):
            self.state.progress.best_val = score
            self.state.save(self.run_dir / "best.pt")

    def finish(self) -> dict[str, float]:
        """Test the last and the best model (every rank); the reporter writes the outputs (rank 0).

        A stop request (one signal is enough: ``last.pt`` already holds the finished training) abandons
        the tests; a resume of the run then only tests.
        """
        self.stop_point()
        last = self.evaluate(self.splits.test, "test (last)", abandon=self.stop_asked)
        metrics = {"test/acc": last.accuracy, "test/mean_class_acc": last.mean_class_accuracy}
        if self.started is not None:  # the command so far; the report's figures and files follow in seconds
            metrics["run/wall_seconds"] = time.time() - self.started
        best_path = self.run_dir / "best.pt"
        if dist.on_main(best_path.exists):
            # the state a stop saves, and what the reporter describes, is the last model: best's weights only here
            with weights_of(self.state.evaluated, best_path, self.run_dir / "last.pt"):
                best = self.evaluate(self.splits.test, "test (best)", abandon=self.stop_asked)
            metrics.update({"test/best_acc": best.accuracy, "test/best_mean_class_acc": best.mean_class_accuracy})
        history = self.state.progress.history
        if history and "val/acc" in history[-1]:
            metrics["val/acc"] = history[-1]["val/acc"]
        self.reporter.finish(metrics, last, self.state)
        return metrics
