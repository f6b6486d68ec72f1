"""``MODEL_CARD.md``: what a run dir holds, for the next person who opens it.

Training writes the card when it finishes (data set, recipe, variant, size and cost, test results,
time and hardware, how to load it); ``pointnet-eval`` refreshes it with its latest evaluation. The
facts behind the card are kept beside it as ``model_card.json`` (plain types), so a refresh
re-renders the same card with one section changed.
"""
from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pointnet.nn.complexity import count_parameters, multiply_adds_per_sample
from pointnet.reporting.model_card_markdown import card_markdown
from pointnet.training.metrics import ConfusionMatrix
from pointnet.training.state import TrainingState

log = logging.getLogger(__name__)
CARD, FACTS = "MODEL_CARD.md", "model_card.json"


def cpu_name() -> str:
    """The CPU model (Linux's ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> str:
    """The device a run used, in words."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    cpu = cpu_name()
    return f"CPU {cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"


def results(cm: ConfusionMatrix, classes: list[str], image: Path, run_dir: Path) -> dict[str, Any]:
    """A confusion matrix as card facts: accuracies, the matrix and the image's path relative to the card."""
    return {"acc": cm.accuracy, "mean_class_acc": cm.mean_class_accuracy, "shapes": cm.total,
            "confusion": cm.matrix.tolist(), "classes": list(classes),
            "image": os.path.relpath(image, run_dir)}


def base_facts(config: dict[str, Any], model_args: dict[str, Any], classes: list[str], model: torch.nn.Module,
               recipe: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint alone tells (its ``config``, ``model_args``, ``classes``): data, recipe, size, cost.

    ``recipe``: every setting that changes results (the apps derive it from the config's roles, as HParams).
    """
    data = config.get("data", {})
    return {
        "data": {"name": data.get("name"), "root": data.get("root"), "classes": list(classes),
                 "up_axis": data.get("up_axis", "z"), "num_points": data.get("num_points", 1024),
                 "normals": data.get("normals", False), "shapes": {}},
        "variant": model_args.get("shared_mlp"),
        "recipe": dict(recipe),
        "parameters": count_parameters(model),
        "multiply_adds": multiply_adds_per_sample(model, int(data.get("num_points", 1024))),
    }


def training_facts(state: TrainingState, metrics: dict[str, float], test: dict[str, Any],
                   shapes: dict[str, int], recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The card facts at the end of training: ``test`` from ``results``, ``shapes`` per split."""
    facts = base_facts(state.config, state.model_args, state.classes, state.model, recipe)
    facts["data"]["shapes"] = dict(shapes)
    history = state.progress.history
    facts["test"] = {**test, **{k: metrics[f"test/{k}"] for k in ("best_acc", "best_mean_class_acc")
                                 if f"test/{k}" in metrics}}
    facts["training"] = {"epochs": len(history), "seconds": sum(r.get("perf/epoch_seconds", 0.0) for r in history),
                         "hardware": hardware(next(state.model.parameters()).device),
                         "world_size": state.world_size, "seed": state.config.get("seed"),
                         "wall_seconds": metrics.get("run/wall_seconds"),
                         "budget_minutes": state.config.get("train", {}).get("budget_minutes")}
    return facts


def write_model_card(run_dir: Path, facts: dict[str, Any]) -> Path:
    """Write ``MODEL_CARD.md`` and its facts (``model_card.json``) into ``run_dir``."""
    run_dir = Path(run_dir)
    (run_dir / FACTS).write_text(json.dumps(facts, indent=2))
    path = run_dir / CARD
    path.write_text(card_markdown(facts, run_dir))
    return path


def refresh_model_card(run_dir: Path, state: dict[str, Any], model: torch.nn.Module,
                       evaluation: dict[str, Any], recipe: Mapping[str, Any]) -> Path | None:
    """Put an evaluation (``results`` plus ``checkpoint``, ``split``, ``votes``) into the run's card;
    ``recipe`` (the checkpoint's settings that change results) serves a run from before model cards.

    Returns the card's path, or None when the run dir cannot be written (the evaluation itself stands).
    """
    facts_file = Path(run_dir) / FACTS
    if facts_file.is_file():
        facts = json.loads(facts_file.read_text())
    else:  # a run from before model cards: what the checkpoint tells
        facts = base_facts(state.get("config", {}), state["model_args"], state["classes"], model, recipe)
    facts["evaluation"] = evaluation
    try:
        return write_model_card(Path(run_dir), facts)
    except OSError as exc:
        log.warning("could not refresh the model card in %s: %s", run_dir, exc)
        return None
