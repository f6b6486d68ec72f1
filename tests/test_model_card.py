"""``MODEL_CARD.md``: written by training, refreshed by ``pointnet-eval``; its loading lines really load."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pointnet import Classifier, PointNet
from pointnet.apps.evaluate import evaluate_checkpoint
from pointnet.apps.train import train
from pointnet.nn.complexity import count_parameters, multiply_adds_per_sample
from tests.helpers import compose, tiny_overrides


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A run of its own (``trained_run``'s card is refreshed by other tests' evaluations)."""
    out = tmp_path_factory.mktemp("card") / "run"
    out.mkdir()
    train(compose(overrides=tiny_overrides(tiny_data)), run_dir=out)
    return out


def section(card: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", card, re.S | re.M)
    assert match, f"no section {title!r} in the card"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| class") and not line.startswith("| key")]


def test_training_writes_the_card(run, tiny_data):
    card = (run / "MODEL_CARD.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    data = section(card, "Data")
    classes = sorted(p.name for p in Path(tiny_data).iterdir() if p.is_dir() and not p.name.startswith("."))
    n_train = len(list(Path(tiny_data).glob("*/train/*.off")))
    n_test = len(list(Path(tiny_data).glob("*/test/*.off")))
    assert f"`synthetic` at `{tiny_data}`" in data and f"{len(classes)} classes: {', '.join(classes)}" in data
    assert f"shapes per split: train {n_train - n_train // 4}, val {n_train // 4}, test {n_test}" in data
    assert "up axis of the source: z" in data and "32 points per cloud" in data
    recipe = section(card, "Recipe")
    model = PointNet(len(classes))
    assert "variant: `conv1d`" in recipe and f"{count_parameters(model):,} parameters" in recipe
    assert f"{multiply_adds_per_sample(model, 32) / 1e6:.1f}M multiply-adds" in recipe
    assert ["`train.batch_size`", "4"] in table_rows(recipe) and ["`data.val_fraction`", "0.25"] in table_rows(recipe)
    keys = {row[0].strip("`") for row in table_rows(recipe)}  # the settings that change results, from their roles
    assert {"data.augment.point_dropout", "train.grad_clip", "model.fast", "seed"} <= keys
    assert not keys & {"runtime.threads", "train.log_every", "data.root", "train.num_workers"}
    test = section(card, "Test results (last epoch, seed 0)")
    assert f"overall accuracy **{100 * metrics['test/acc']:.1f}%**" in test
    assert f"`best.pt` (picked on validation): accuracy {100 * metrics['test/best_acc']:.1f}%" in test
    assert "[confusion_test.png](confusion_test.png)" in test and (run / "confusion_test.png").is_file()
    rows = table_rows(test)
    confusion = metrics["test/confusion"]
    assert [r[0] for r in rows] == classes
    assert [[int(r[1]), int(r[2])] for r in rows] == [[sum(row), row[i]] for i, row in enumerate(confusion)]
    training = section(card, "Training")
    assert "2 epochs in" in training and "hardware: CPU" in training and "torch threads" in training
    assert "seed 0" in training
    took = re.search(r"the whole command, from its start to the end of the test: ([0-9.]+) (s|minutes)", training)
    seconds = float(took.group(1)) * (60 if took.group(2) == "minutes" else 1)
    steps = sum(row["perf/epoch_seconds"] for row in metrics["history"])
    assert seconds > steps  # since this test process started: its steps and more
    assert metrics["run/wall_seconds"] == pytest.approx(seconds, abs=0.1 if took.group(2) == "s" else 3.0)


def test_the_cards_loading_lines_run(run, tiny_data):
    card = (run / "MODEL_CARD.md").read_text()
    code = re.search(r"```python\n(.*?)```", section(card, "Use it"), re.S).group(1)
    assert len(code.strip().splitlines()) == 3 and f'"{run.resolve() / "best.pt"}"' in code
    mesh = next(Path(tiny_data).glob("sofa/test/*.off"))
    result = subprocess.run([sys.executable, "-c", code.replace('"chair.off"', repr(str(mesh)))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = Classifier.from_checkpoint(run / "best.pt").predict(mesh)[0].top_k()
    assert result.stdout.strip() == str(expected)


def test_eval_refreshes_the_card(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = (copy / "MODEL_CARD.md").read_text()
    result = evaluate_checkpoint(compose("eval", [f"checkpoint={copy / 'last.pt'}", "eval.votes=2"]), tmp_path / "ev",
                                 overrides=[])
    card = (copy / "MODEL_CARD.md").read_text()
    assert section(card, "Test results (last epoch, seed 0)") == section(before, "Test results (last epoch, seed 0)")
    ev = section(card, "Latest evaluation (test split)")
    assert f"checkpoint `{copy / 'last.pt'}`, rotation voting over 2 rotations" in ev
    assert f"overall accuracy **{100 * result['acc']:.1f}%**" in ev
    assert "[../ev/confusion.png](../ev/confusion.png)" in ev and (copy / "../ev/confusion.png").is_file()
    assert [[int(r[1]), int(r[2])] for r in table_rows(ev)] == [[sum(row), row[i]]
                                                                for i, row in enumerate(result["confusion"])]
    assert json.loads((copy / "model_card.json").read_text())["evaluation"]["votes"] == 2


def test_eval_writes_a_card_for_a_run_without_one(run, tmp_path):
    shutil.copy(run / "last.pt", tmp_path / "last.pt")
    evaluate_checkpoint(compose("eval", [f"checkpoint={tmp_path / 'last.pt'}"]), tmp_path / "ev", overrides=[])
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "no voting" in section(card, "Latest evaluation (test split)") and "13 classes" in section(card, "Data")
    assert "## Test results" not in card and "## Training" not in card
