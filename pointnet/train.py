"""``pointnet-train``: a thin ``@hydra.main`` over a plain ``train(cfg)``.

``train`` validates the config, prepares the data (generating the offline set on first use), builds
the model and runs the epochs; every piece below it takes plain arguments. Outputs (TensorBoard
events, ``last.pt`` / ``best.pt``, confusion matrix image, ``metrics.json``) go to Hydra's run dir.
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

from pointnet.board import RunBoard, confusion_figure, save_figure
from pointnet.batching import make_loader
from pointnet.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from pointnet.config import register_configs, validate
from pointnet.engine import NonFiniteLossError, evaluate, train_one_epoch
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

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


class Run:
    """The state of one training run and the steps that move it forward."""

    def __init__(self, cfg: DictConfig, run_dir: Path, splits: Splits, device: torch.device) -> None:
        self.cfg, self.run_dir, self.splits, self.device = cfg, run_dir, splits, device
        self.model_args = model_args(cfg, len(splits.classes))
        self.model = PointNet(**self.model_args).to(device)
        t = cfg.train
        self.optimizer = build_optimizer(cfg.optimizer.name, self.model.parameters(), t.lr,
                                         cfg.optimizer.weight_decay, cfg.optimizer.momentum)
        s = cfg.scheduler
        self.scheduler = build_scheduler(s.name, self.optimizer, t.epochs, s.step_size, s.gamma, s.min_lr)
        self.progress = Progress()
        self.train_loader = make_loader(splits.train, t.batch_size, train=True, seed=cfg.seed,
                                        num_workers=t.num_workers)
        self.board: RunBoard | None = None
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
                         "best_val": list(p.best_val), "history": p.history},
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path, map_location=self.device)
        if state["classes"] != list(self.splits.classes):
            raise ValueError(f"{path}: trained on classes {state['classes']}, data has {self.splits.classes}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        p = state["progress"]
        self.progress = Progress(p["epoch"], p["batch"], p["global_step"], tuple(p["best_val"]), p["history"])
        log.info("resumed from %s at epoch %d, batch %d", path, p["epoch"] + 1, p["batch"])

    def save(self, name: str = "last.pt") -> Path:
        return save_checkpoint(self.state(), self.run_dir / name)

    def evaluate(self, dataset, description: str) -> ConfusionMatrix:
        loader = make_loader(dataset, self.cfg.eval.batch_size, train=False, seed=self.cfg.seed, num_workers=0)
        return evaluate(self.model, loader, len(self.splits.classes), device=self.device,
                        reg_weight=self.cfg.train.reg_weight, description=description)

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
            self.stop.check()

        stats = train_one_epoch(self.model, self.train_loader, self.optimizer, reg_weight=t.reg_weight,
                                device=self.device, on_step=on_step,
                                description=f"epoch {p.epoch + 1}/{t.epochs}")
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
        """Test the last and the best model; figures, hparams and ``metrics.json``."""
        classes = self.splits.classes
        last = self.evaluate(self.splits.test, "test (last)")
        metrics = {"test/acc": last.accuracy, "test/mean_class_acc": last.mean_class_accuracy}
        best_path = self.run_dir / "best.pt"
        if best_path.exists():
            self.model.load_state_dict(load_checkpoint(best_path, self.device)["model"])
            best = self.evaluate(self.splits.test, "test (best)")
            metrics.update({"test/best_acc": best.accuracy, "test/best_mean_class_acc": best.mean_class_accuracy})
        step = self.progress.global_step
        self.board.scalars(metrics, step)
        history = self.progress.history
        if history and "val/acc" in history[-1]:
            metrics["val/acc"] = history[-1]["val/acc"]
        self.board.confusion("test/confusion_matrix", last.matrix, classes, step)
        save_figure(confusion_figure(last.matrix, classes, "test confusion (last epoch)"),
                    self.run_dir / "confusion_test.png")
        self.log_clouds(step)
        self.board.hparams(self.hparams(), metrics)
        (self.run_dir / "metrics.json").write_text(json.dumps({**metrics, "history": history}, indent=2))
        log.info("test accuracy %.4f (mean class %.4f), last epoch\n%s", last.accuracy,
                 last.mean_class_accuracy, last.table(classes))
        return metrics

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
            predicted = self.model(points.to(self.device))[0].argmax(dim=1).cpu()
        names = [self.splits.classes[int(c)] for c in labels]
        self.board.clouds("test/clouds", points, (predicted == labels).tolist(), names, step)

    def hparams(self) -> dict[str, object]:
        c = self.cfg
        return {"variant": c.model.shared_mlp, "fast": c.model.fast, "lr": c.train.lr,
                "batch_size": c.train.batch_size, "points": c.data.num_points, "epochs": c.train.epochs,
                "seed": c.seed, "data": c.data.name, "optimizer": c.optimizer.name, "scheduler": c.scheduler.name}


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> dict[str, float]:
    """Train ``cfg`` into ``run_dir`` (default: Hydra's run dir); returns the final test metrics."""
    validate(cfg, training=True)
    run_dir = Path(run_dir or HydraConfig.get().runtime.output_dir)
    tune_malloc()
    set_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    resume_from = find_resume_checkpoint(cfg.resume, run_dir)
    if resume_from is not None and resume_from.parent != run_dir:
        log.info("continuing %s in its own run dir", resume_from.parent)
        run_dir = resume_from.parent
    train_set, test_set = prepare_data(cfg.data)
    splits = build_splits(train_set, test_set, num_points=cfg.data.num_points, val_fraction=cfg.data.val_fraction,
                          augment=augmentation(cfg.data.augment), seed=cfg.seed)
    log.info("data %s: %d train, %d val, %d test shapes, %d classes", cfg.data.name, len(splits.train),
             len(splits.val or []), len(splits.test), len(splits.classes))
    seed_everything(cfg.seed)
    run = Run(cfg, run_dir, splits, device)
    if resume_from is not None:
        run.restore(resume_from)
    run.board = RunBoard(run_dir / "tensorboard", purge_step=run.progress.global_step if resume_from else None)
    with run.stop:
        try:
            while run.progress.epoch < cfg.train.epochs:
                run.train_epoch()
            return run.finish()
        except KeyboardInterrupt:
            path = run.save("last.pt")
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
