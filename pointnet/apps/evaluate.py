"""``pointnet-eval checkpoint=PATH``: accuracy over every test shape, per-class table, confusion image.

``eval.split=val`` evaluates on the validation shapes the run held out (``data.val_fraction``, its ``seed``): the
split to tune on, corruptions included; ``eval.split=train`` on the shapes it trained on.

Optional rotation voting (``eval.votes=V``: logits averaged over V rotations about the up axis),
critical-point images (``eval.critical_points=K``) and accuracy under ModelNet-C's corruptions
(``eval.corruptions=all``: ``corruptions.{md,json,png}``, TensorBoard ``corruption/*``, a model card line).
Any checkpoint evaluates under any variant: ``pointnet-eval checkpoint=... model/shared_mlp=loop``.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: the bounded OpenMP spin, set before torch loads (pointnet.runtime.openmp)
    from pointnet.runtime.openmp import quiet_openmp
    quiet_openmp()

import json
import logging
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pointnet.apps.cli import app_main
from pointnet.apps.common import open_checkpoint, output_dir, prepare_data
from pointnet.apps.config import ConfigError, validate_data
from pointnet.apps.schema import recipe, register_configs
from pointnet.data import PointCloudDataset
from pointnet.data.pipeline.corruptions import parse_corruptions
from pointnet.data.pipeline.holdout import point_set_of
from pointnet.reporting.board import RunBoard
from pointnet.reporting.corruptions import (
    card_facts,
    corruption_figure,
    corruption_markdown,
    corruption_scalars,
    corruption_summary,
)
from pointnet.reporting.critical_points import critical_point_indices, critical_points_figure
from pointnet.reporting.figures import confusion_figure, confusion_title, save_figure
from pointnet.reporting.model_card import refresh_model_card, results
from pointnet.training.batching import make_loader
from pointnet.training.checkpoint import CheckpointError
from pointnet.training.evaluation import evaluate
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.robustness import corruption_confusions

log = logging.getLogger(__name__)
register_configs()


def evaluate_checkpoint(cfg: DictConfig, out_dir: str | Path, overrides: list[str] | None = None) -> dict:
    """Evaluate ``cfg.checkpoint`` on ``cfg.eval.split`` (and ``eval.corruptions``); writes figures, ``eval.json``
    (and ``corruptions.*``) to ``out_dir``."""
    model, state, data = open_checkpoint(cfg, overrides)
    kinds = parse_corruptions(cfg.eval.corruptions)
    if kinds and model.in_channels != 3:
        raise ConfigError("eval.corruptions", "ModelNet-C's corruptions act on xyz clouds and this checkpoint's "
                          "model reads normals (6 channels); evaluate it without eval.corruptions")
    if cfg.eval.split == "val" and not data.val_fraction:
        raise ConfigError("eval.split", "val: this run held out no validation shapes (data.val_fraction=0); "
                          "evaluate on train or test")
    validate_data(data)
    train_set, test_set = prepare_data(data)
    point_set = point_set_of(cfg.eval.split, train_set, test_set, data.val_fraction, state["config"]["seed"])
    if point_set.classes != state["classes"]:
        raise CheckpointError(cfg.checkpoint, f"trained on classes {state['classes']}, the data has "
                              f"{point_set.classes}", "evaluate it on the data it was trained on (data=...)")
    dataset = PointCloudDataset(point_set, data.num_points, train=False, seed=state["config"]["seed"],
                                normals=model.in_channels == 6)
    loader = make_loader(dataset, cfg.eval.batch_size, train=False, seed=0)
    cm = evaluate(model, loader, len(point_set.classes), device=next(model.parameters()).device,
                  votes=cfg.eval.votes, description=f"eval {cfg.eval.split}")
    out_dir = Path(out_dir)
    save_figure(confusion_figure(cm.matrix, point_set.classes, f"{cfg.eval.split} confusion"),
                out_dir / "confusion.png")
    result = {"checkpoint": str(cfg.checkpoint), "variant": model.shared_mlp, "split": cfg.eval.split,
              "votes": cfg.eval.votes, "shapes": cm.total, "acc": cm.accuracy,
              "mean_class_acc": cm.mean_class_accuracy, "confusion": cm.matrix.tolist(),
              "classes": point_set.classes}
    summary = evaluate_corruptions(cfg, model, dataset, kinds, out_dir) if kinds else None
    if summary is not None:
        result["corruptions"] = summary
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2))
    run_dir = Path(cfg.checkpoint).parent
    card = {**results(cm, point_set.classes, out_dir / "confusion.png", run_dir),
            "checkpoint": str(cfg.checkpoint), "split": cfg.eval.split, "votes": cfg.eval.votes}
    if summary is not None:
        card["corruptions"] = card_facts(summary, os.path.relpath(out_dir / "corruptions.md", run_dir))
    refresh_model_card(run_dir, state, model, card, recipe(state.get("config", {})))
    log.info("%s on %s (%d shapes, %d vote(s)): accuracy %.4f, mean class accuracy %.4f\n%s",
             model.shared_mlp, cfg.eval.split, cm.total, cfg.eval.votes, cm.accuracy, cm.mean_class_accuracy,
             cm.table(point_set.classes))
    write_board(cfg, cm, point_set.classes, state, summary)
    if cfg.eval.critical_points:
        export_critical_points(model, dataset, point_set.classes, cfg.eval.critical_points, out_dir)
    return result


def evaluate_corruptions(cfg: DictConfig, model, dataset: PointCloudDataset, kinds: tuple[str, ...],
                         out_dir: Path) -> dict:
    """Accuracy under ``kinds`` at severities 1..5 (one pass, no voting), as ``corruptions.{json,md,png}``."""
    clean, corrupted = corruption_confusions(model, dataset, kinds, seed=cfg.eval.corruption_seed,
                                             device=next(model.parameters()).device, batch_size=cfg.eval.batch_size)
    summary = corruption_summary(clean, corrupted, cfg.eval.corruption_seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "corruptions.json").write_text(json.dumps(summary, indent=2))
    table = corruption_markdown(summary)
    (out_dir / "corruptions.md").write_text(table)
    save_figure(corruption_figure(summary), out_dir / "corruptions.png")
    log.info("under corruption: mean accuracy %.4f (clean %.4f, drop %.4f)\n%s", summary["mean_acc"],
             summary["clean_acc"], summary["mean_drop"], table)
    return summary


def eval_run_dir(checkpoint: Path, split: str, votes: int) -> Path:
    """``RUN/tensorboard/eval`` beside the checkpoint's own events (``eval_train_votes12`` for other settings),
    so TensorBoard shows it next to the training run and HParams links its ``eval/*`` metrics to it."""
    name = "eval" if (split, votes) == ("test", 1) else f"eval_{split}_votes{votes}"
    return checkpoint.parent / "tensorboard" / name


def write_board(cfg: DictConfig, cm: ConfusionMatrix, classes: list[str], state: dict,
                corruptions: dict | None = None) -> None:
    """Accuracy, per-class accuracy and the confusion matrix at the checkpoint's step, in its eval run; with
    ``corruptions`` (``corruption_summary``) the ``corruption/*`` scalars, table and figure too."""
    checkpoint = Path(cfg.checkpoint)
    progress = state.get("progress", {})
    step, epoch = int(progress.get("global_step", 0)), progress.get("epoch")
    log_dir = eval_run_dir(checkpoint, cfg.eval.split, cfg.eval.votes)
    try:
        board = RunBoard(log_dir)
    except OSError as exc:  # a read-only run dir: eval.json and the figures are already written
        log.warning("cannot write TensorBoard events to %s: %s", log_dir, exc)
        return
    board.scalars({"eval/acc": cm.accuracy, "eval/mean_class_acc": cm.mean_class_accuracy}, step)
    board.class_accuracy("eval", cm, classes, step)
    title = confusion_title(f"{cfg.eval.split} ({checkpoint.name}, {cfg.eval.votes} vote(s))", cm.accuracy, epoch)
    board.confusion("eval/confusion_matrix", cm.matrix, classes, title, step)
    if corruptions is not None:
        board.scalars(corruption_scalars(corruptions), step)
        board.text("corruption/table", corruption_markdown(corruptions), step)
        board.writer.add_figure("corruption/accuracy_vs_severity", corruption_figure(corruptions), step)
    board.close()


def export_critical_points(model, dataset: PointCloudDataset, classes: list[str], count: int,
                           out_dir: Path) -> None:
    """Images (and TensorBoard figures) of the critical points of ``count`` shapes spread over the set."""
    board = RunBoard(out_dir / "tensorboard")
    device = next(model.parameters()).device
    for k in range(min(count, len(dataset))):
        index = k * len(dataset) // count
        points, label = dataset[index]
        critical = critical_point_indices(model, points.to(device)).cpu()  # model on runtime.device
        fig = critical_points_figure(points, critical, f"{classes[int(label)]} #{index}")
        board.writer.add_figure(f"critical_points/{index}_{classes[int(label)]}", fig, 0, close=False)
        save_figure(fig, out_dir / f"critical_points_{index}_{classes[int(label)]}.png")
    board.close()


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="eval")
@app_main("eval")
def main(cfg: DictConfig) -> float:
    return evaluate_checkpoint(cfg, output_dir())["acc"]


if __name__ == "__main__":
    main()
