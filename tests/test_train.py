"""Training runs end to end on a tiny generated data set: outputs, determinism, resume, failures."""
import json
import os
import signal

import pytest
import torch

from pointnet.training import epoch as engine
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.stop import Stopped
from pointnet.apps.train import train
from tests.helpers import compose, tiny_overrides


def run(tiny_data, tmp_path, name, *extra):
    cfg = compose(overrides=tiny_overrides(tiny_data, *extra))
    out = tmp_path / "outputs" / "day" / name
    out.mkdir(parents=True)
    return train(cfg, run_dir=out), out


def history(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["history"]


def test_run_writes_checkpoints_events_and_figures(tiny_data, tmp_path):
    metrics, out = run(tiny_data, tmp_path, "a")
    assert 0.0 <= metrics["test/acc"] <= 1.0 and "test/best_acc" in metrics
    for name in ("last.pt", "best.pt", "metrics.json", "confusion_test.png"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    state = load_checkpoint(out / "last.pt")  # weights_only=True inside
    assert state["progress"]["epoch"] == 2 and state["progress"]["batch"] == 0
    assert isinstance(state["config"], dict) and state["config"]["train"]["epochs"] == 2
    assert state["model_args"]["shared_mlp"] == "conv1d"
    rows = history(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["bn_momentum"] == 0.5 and rows[0]["lr"] == 1e-3
    assert {"train/loss", "train/reg_loss", "train/acc", "val/loss", "val/acc", "val/mean_class_acc"} <= rows[0].keys()


def test_same_seed_same_metrics(tiny_data, tmp_path):
    _, a = run(tiny_data, tmp_path, "a")
    _, b = run(tiny_data, tmp_path, "b")
    assert history(a) and [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in history(a)] == [
        {k: v for k, v in r.items() if not k.startswith("perf/")} for r in history(b)
    ]
    _, c = run(tiny_data, tmp_path, "c", "seed=1")
    assert history(c)[0]["train/loss"] != history(a)[0]["train/loss"]


def same_weights(path_a, path_b):
    a, b = load_checkpoint(path_a)["model"], load_checkpoint(path_b)["model"]
    return all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_an_epoch_matches_the_uninterrupted_run(tiny_data, tmp_path):
    _, full = run(tiny_data, tmp_path, "full", "train.epochs=3")
    _, part = run(tiny_data, tmp_path, "part", "train.epochs=1")
    _, new_dir = run(tiny_data, tmp_path, "resumed", "train.epochs=3", f"resume={part / 'last.pt'}")
    assert not (new_dir / "last.pt").exists()  # it continued in the interrupted run's own dir
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]  # noqa: E731
    assert strip(history(part)) == strip(history(full))
    assert same_weights(full / "last.pt", part / "last.pt")


def test_interrupt_mid_epoch_saves_and_resume_matches(tiny_data, tmp_path, monkeypatch):
    _, full = run(tiny_data, tmp_path, "full")
    original = engine.train_one_epoch
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        batches = kwargs.pop("batches", None) or args[1]

        def signalled():  # a real SIGINT to this process while the third batch is being fetched
            for index, batch in enumerate(batches):
                calls["n"] += 1
                if calls["n"] == 3:
                    os.kill(os.getpid(), signal.SIGINT)
                yield batch
        return original(args[0], signalled(), *args[2:], **kwargs)

    monkeypatch.setattr("pointnet.training.loop.train_one_epoch", interrupted)
    with pytest.raises(Stopped) as stopped:
        run(tiny_data, tmp_path, "part")
    assert stopped.value.exit_code == 130
    part = tmp_path / "outputs" / "day" / "part"
    state = load_checkpoint(part / "last.pt")
    assert (state["progress"]["epoch"], state["progress"]["batch"]) == (0, 3)  # the step under way finished
    assert state["progress"]["partial"]["samples"] == 3 * 4  # the epoch's sums so far travel with it
    monkeypatch.setattr("pointnet.training.loop.train_one_epoch", original)
    run(tiny_data, tmp_path, "again", f"resume={part}")
    assert same_weights(full / "last.pt", part / "last.pt")
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]  # noqa: E731
    assert strip(history(part)) == strip(history(full))  # the interrupted epoch's loss counts all its batches


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    from pointnet.training.state import TrainingState

    original_loss, original_save = engine.classification_loss, TrainingState.save
    poison = {"on": False}

    def save(self, path):
        poison["on"] = True  # from the end of epoch 1 on, every loss is NaN
        return original_save(self, path)

    def poisoned(*args, **kwargs):
        loss, reg = original_loss(*args, **kwargs)
        return (loss * float("nan") if poison["on"] else loss), reg

    monkeypatch.setattr(TrainingState, "save", save)
    monkeypatch.setattr(engine, "classification_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="loss became nan"):
        run(tiny_data, tmp_path, "nan")
    state = load_checkpoint(tmp_path / "outputs" / "day" / "nan" / "last.pt")
    assert state["progress"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
