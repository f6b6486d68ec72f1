"""train.budget_minutes, early_points and val_every: the plan's arithmetic, and each key reaching the run."""
import json

import pytest

from pointnet.apps.train import train
from pointnet.errors import ConfigError
from pointnet.training import budget
from pointnet.training.budget import SAFETY, plan_budget, sample_seconds
from pointnet.training.checkpoint import load_checkpoint
from tests.helpers import compose, tiny_overrides

MODELNET40 = dict(train_shapes=9843, val_shapes=0, test_shapes=2468, batch_size=32, num_points=1024)


def total(plan) -> float:
    return sum(plan.seconds.values())


@pytest.mark.parametrize("minutes", [5, 15, 30, 60])
def test_the_plan_fills_the_budget_and_one_more_epoch_would_not_fit(minutes):
    plan = plan_budget(minutes, **MODELNET40)
    assert total(plan) <= SAFETY * 60 * minutes
    epoch = (9843 // 32) * 32 * sample_seconds(1024)
    assert total(plan) + epoch > SAFETY * 60 * minutes
    assert plan == plan_budget(minutes, **MODELNET40)  # from the sizes alone, never the clock


def test_more_minutes_fewer_points_and_rarer_validation_buy_more_epochs():
    epochs = [plan_budget(m, **MODELNET40).epochs for m in (10, 20, 40, 80)]
    assert epochs == sorted(epochs) and epochs[0] < epochs[-1]
    full = plan_budget(30, **MODELNET40)
    early = plan_budget(30, **MODELNET40, early_points=256, early_fraction=0.5)
    assert early.epochs > full.epochs and early.early_epochs == early.epochs // 2
    validated = dict(MODELNET40, val_shapes=984, train_shapes=8859)
    assert plan_budget(30, **validated, val_every=5).epochs >= plan_budget(30, **validated).epochs


def test_a_point_costs_less_than_a_point_and_the_fixed_part_does_not_shrink():
    assert sample_seconds(256) < sample_seconds(512) < sample_seconds(1024)
    assert sample_seconds(512) > sample_seconds(1024) / 2  # T-Net FC layers, optimiser step, overhead
    assert sample_seconds(1024) == pytest.approx(1 / (budget.REFERENCE_SAMPLES_PER_S * budget.LOOP_EFFICIENCY))


def test_a_budget_too_small_for_one_epoch_is_refused_with_what_it_needs():
    with pytest.raises(ValueError, match="do not fit one epoch of 9843 shapes"):
        plan_budget(0.5, **MODELNET40)


def tiny_run(tiny_data, tmp_path, *extra):
    out = tmp_path / "outputs" / "day" / "run"
    out.mkdir(parents=True, exist_ok=True)
    train(compose(overrides=tiny_overrides(tiny_data, *extra)), run_dir=out)
    return out, json.loads((out / "metrics.json").read_text())["history"]


TINY_SIZES = dict(train_shapes=39, val_shapes=13, test_shapes=26, batch_size=4, num_points=32)  # tiny_data's


def minutes_for(epochs: int, **plan) -> float:
    """The smallest budget (to 0.1 ms) that buys ``epochs`` on the tiny data set."""
    minutes = 0.3
    while True:
        try:
            if plan_budget(minutes, **TINY_SIZES, **plan).epochs >= epochs:
                return minutes
        except ValueError:
            pass
        minutes = round(minutes + 1e-4, 4)


def test_budget_early_points_and_val_every_reach_the_run(tiny_data, tmp_path):
    """39 train, 13 val and 26 test shapes at batch 4: a budget that buys 5 epochs, the first 2 at 16 points."""
    plan = dict(early_points=16, early_fraction=0.5, val_every=2)
    minutes = minutes_for(5, **plan)
    assert plan_budget(minutes, **TINY_SIZES, **plan).early_epochs == 2
    out, rows = tiny_run(tiny_data, tmp_path, f"train.budget_minutes={minutes}", "train.early_points=16",
                         "train.early_fraction=0.5", "train.val_every=2")
    assert [row["perf/points"] for row in rows] == [16, 16, 32, 32, 32]
    assert [row["epoch"] for row in rows if "val/acc" in row] == [2, 4, 5]  # every 2nd, and the last
    assert load_checkpoint(out / "last.pt")["config"]["train"]["epochs"] == 5


@pytest.mark.parametrize("override, key", [
    ("train.budget_minutes=0", "train.budget_minutes"),
    ("train.early_points=64", "train.early_points"),  # above data.num_points=32
    ("train.early_fraction=1", "train.early_fraction"),
    ("train.val_every=0", "train.val_every"),
])
def test_bad_values_are_refused_naming_the_key(tiny_data, tmp_path, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        tiny_run(tiny_data, tmp_path, override)


def test_a_budget_that_buys_no_epoch_or_fewer_than_the_warmup_is_refused(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="train.budget_minutes"):
        tiny_run(tiny_data, tmp_path, "train.budget_minutes=0.2")
    with pytest.raises(ConfigError, match="scheduler.warmup_epochs"):
        tiny_run(tiny_data, tmp_path, f"train.budget_minutes={minutes_for(3)}", "scheduler.warmup_epochs=3")
