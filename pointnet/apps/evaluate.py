"""``pointnet-eval checkpoint=PATH``: accuracy over every test shape, per-class table, confusion image.

Optional rotation voting (``eval.votes=V``: logits averaged over V rotations about the up axis) and
critical-point images (``eval.critical_points=K``). Any checkpoint evaluates under any variant:
``pointnet-eval checkpoint=... model/shared_mlp=loop``.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: passive OpenMP waiting, set before torch loads (pointnet.apps.openmp)
    from pointnet.apps.openmp import quiet_openmp
    quiet_openmp()

import json
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pointnet.apps.common import open_checkpoint, prepare_data
from pointnet.training.batching import make_loader
from pointnet.reporting.board import RunBoard
from pointnet.reporting.figures import confusion_figure, save_figure
from pointnet.apps.config import register_configs, validate_data
from pointnet.reporting.critical_points import critical_point_indices, critical_points_figure
from pointnet.data import PointCloudDataset
from pointnet.training.evaluation import evaluate

log = logging.getLogger(__name__)
register_configs()


def evaluate_checkpoint(cfg: DictConfig, out_dir: str | Path, overrides: list[str] | None = None) -> dict:
    """Evaluate ``cfg.checkpoint`` on ``cfg.eval.split``; writes figures and ``eval.json`` to ``out_dir``."""
    model, state, data = open_checkpoint(cfg, overrides)
    validate_data(data)
    train_set, test_set = prepare_data(data)
    point_set = test_set if cfg.eval.split == "test" else train_set
    if point_set.classes != state["classes"]:
        raise ValueError(f"data classes {point_set.classes} differ from the checkpoint's {state['classes']}")
    dataset = PointCloudDataset(point_set, data.num_points, train=False, seed=state["config"]["seed"])
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
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2))
    log.info("%s on %s (%d shapes, %d vote(s)): accuracy %.4f, mean class accuracy %.4f\n%s",
             model.shared_mlp, cfg.eval.split, cm.total, cfg.eval.votes, cm.accuracy, cm.mean_class_accuracy,
             cm.table(point_set.classes))
    if cfg.eval.critical_points:
        export_critical_points(model, dataset, point_set.classes, cfg.eval.critical_points, out_dir)
    return result


def export_critical_points(model, dataset: PointCloudDataset, classes: list[str], count: int,
                           out_dir: Path) -> None:
    """Images (and TensorBoard figures) of the critical points of ``count`` shapes spread over the set."""
    board = RunBoard(out_dir / "tensorboard")
    for k in range(min(count, len(dataset))):
        index = k * len(dataset) // count
        points, label = dataset[index]
        critical = critical_point_indices(model, points)
        fig = critical_points_figure(points, critical, f"{classes[int(label)]} #{index}")
        board.writer.add_figure(f"critical_points/{index}_{classes[int(label)]}", fig, 0, close=False)
        save_figure(fig, out_dir / f"critical_points_{index}_{classes[int(label)]}.png")
    board.close()


@hydra.main(version_base="1.3", config_path="pkg://pointnet.configs", config_name="eval")
def main(cfg: DictConfig) -> float:
    return evaluate_checkpoint(cfg, HydraConfig.get().runtime.output_dir)["acc"]


if __name__ == "__main__":
    main()
