"""Training runs end to end on a tiny generated data set: outputs, determinism, resume, failures."""
import json
import os
import signal

import pytest
import torch

from pointnet.apps.train import train
from pointnet.training import epoch as engine
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.stop import Stopped
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
    """The same saved model (and trained weights, where a moving average is saved as the model)."""
    a, b = load_checkpoint(path_a), load_checkpoint(path_b)
    keys = [key for key in ("model", "trained_model") if key in a or key in b]
    return all(torch.equal(a[key][k], b[key][k]) for key in keys for k in a[key])


def test_resume_after_an_epoch_matches_the_uninterrupted_run(tiny_data, tmp_path):
    _, full = run(tiny_data, tmp_path, "full", "train.epochs=3")
    _, part = run(tiny_data, tmp_path, "part", "train.epochs=1")
    _, new_dir = run(tiny_data, tmp_path, "resumed", "train.epochs=3", f"resume={part / 'last.pt'}")
    assert not (new_dir / "last.pt").exists()  # it continued in the interrupted run's own dir
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]  # noqa: E731
    assert strip(history(part)) == strip(history(full))
    assert same_weights(full / "last.pt", part / "last.pt")


@pytest.mark.parametrize("extra", [(), ("train.ema_decay=0.9", "train.cutmix_prob=0.5")])
def test_interrupt_mid_epoch_saves_and_resume_matches(tiny_data, tmp_path, monkeypatch, extra):
    _, full = run(tiny_data, tmp_path, "full", *extra)
    original = engine.Trainer.epoch
    calls = {"n": 0}

    def interrupted(self, batches, *args, **kwargs):
        def signalled():  # a real SIGINT to this process while the third batch is being fetched
            for batch in batches:
                calls["n"] += 1
                if calls["n"] == 3:
                    os.kill(os.getpid(), signal.SIGINT)
                yield batch
        return original(self, signalled(), *args, **kwargs)

    monkeypatch.setattr(engine.Trainer, "epoch", interrupted)
    with pytest.raises(Stopped) as stopped:
        run(tiny_data, tmp_path, "part", *extra)
    assert stopped.value.exit_code == 130
    part = tmp_path / "outputs" / "day" / "part"
    state = load_checkpoint(part / "last.pt")
    assert (state["progress"]["epoch"], state["progress"]["batch"]) == (0, 3)  # the step under way finished
    assert state["progress"]["partial"]["samples"] == 3 * 4  # the epoch's sums so far travel with it
    monkeypatch.setattr(engine.Trainer, "epoch", original)
    import pointnet.apps.train as app
    load_splits = app.load_splits

    def signalled_while_loading(cfg):  # a resumed run stopped before its first step keeps the sums
        os.kill(os.getpid(), signal.SIGTERM)
        return load_splits(cfg)
    monkeypatch.setattr(app, "load_splits", signalled_while_loading)
    with pytest.raises(Stopped, match="SIGTERM"):
        run(tiny_data, tmp_path, "stub", *extra, f"resume={part}")
    assert load_checkpoint(part / "last.pt")["progress"]["partial"]["samples"] == 3 * 4
    monkeypatch.setattr(app, "load_splits", load_splits)
    run(tiny_data, tmp_path, "again", *extra, f"resume={part}")
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


def strip_perf(rows):
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]


@pytest.mark.parametrize("signals", [1, 2])
def test_signals_during_validation_leave_a_consistent_state(tiny_data, tmp_path, monkeypatch, signals):
    """One SIGINT during validation: the epoch ends, then the run stops. Two: validation is abandoned and
    redone on resume. Either way the schedule steps once per epoch and no zero row enters the history."""
    _, full = run(tiny_data, tmp_path, "full", "scheduler.step_size=1")
    import pointnet.training.loop as loop_module
    original = loop_module.evaluate

    def interrupted(model, loader, *args, description="eval", **kwargs):
        if description == "val" and not interrupted.sent:
            interrupted.sent = True
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGINT)
        return original(model, loader, *args, description=description, **kwargs)

    interrupted.sent = False
    monkeypatch.setattr(loop_module, "evaluate", interrupted)
    with pytest.raises(Stopped):
        run(tiny_data, tmp_path, "part", "scheduler.step_size=1")
    part = tmp_path / "outputs" / "day" / "part"
    progress = load_checkpoint(part / "last.pt")["progress"]
    assert progress["epoch"] == (1 if signals == 1 else 0) and (progress["partial"] is None) == (signals == 1)
    monkeypatch.setattr(loop_module, "evaluate", original)
    run(tiny_data, tmp_path, "again", "scheduler.step_size=1", f"resume={part}")
    assert strip_perf(history(part)) == strip_perf(history(full))
    assert all(row["train/loss"] > 0 for row in history(part))
    assert same_weights(full / "last.pt", part / "last.pt")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    board = EventAccumulator(str(part / "tensorboard"), size_guidance={"scalars": 0})
    board.Reload()
    losses = {e.step: e.value for e in board.Scalars("train/loss")}  # the last write of a step is what shows
    assert len(losses) == 2 and all(v > 0 for v in losses.values())
    # TensorBoard stores float32: compare at its precision
    assert sorted(losses.values()) == pytest.approx(sorted(r["train/loss"] for r in history(full)), rel=1e-6)


@pytest.mark.parametrize("during", ["test (last)", "test (best)"])
def test_a_signal_during_the_final_tests_stops_and_a_resume_only_tests(tiny_data, tmp_path, monkeypatch, during):
    """Training is done and saved, so one SIGINT abandons the tests (exit 130, not a silent 0); last.pt keeps
    the last weights, not best.pt's, and a resume runs no epoch and reports what an uninterrupted run does."""
    full_metrics, full = run(tiny_data, tmp_path, "full")
    import pointnet.training.loop as loop_module
    original = loop_module.evaluate

    def interrupted(model, loader, *args, description="eval", **kwargs):
        if description == during:
            os.kill(os.getpid(), signal.SIGINT)
        return original(model, loader, *args, description=description, **kwargs)

    monkeypatch.setattr(loop_module, "evaluate", interrupted)
    with pytest.raises(Stopped) as stopped:
        run(tiny_data, tmp_path, "part")
    assert stopped.value.exit_code == 130
    part = tmp_path / "outputs" / "day" / "part"
    assert not (part / "metrics.json").exists()
    assert load_checkpoint(part / "last.pt")["progress"]["epoch"] == 2 and same_weights(full / "last.pt", part / "last.pt")
    monkeypatch.setattr(loop_module, "evaluate", original)

    def no_epoch(self):
        raise AssertionError("the resume of a trained run ran an epoch")

    monkeypatch.setattr(loop_module.TrainingLoop, "train_epoch", no_epoch)
    metrics, _ = run(tiny_data, tmp_path, "again", f"resume={part}")
    for key in ("test/acc", "test/best_acc", "test/mean_class_acc", "test/best_mean_class_acc"):
        assert metrics[key] == full_metrics[key], key
    assert same_weights(full / "last.pt", part / "last.pt")


def test_last_pt_knows_the_best_score_that_best_pt_holds(tiny_data, tmp_path):
    """best.pt is written before last.pt, both with the new best_val: after a crash and resume, a
    worse epoch can never replace best.pt."""
    _, out = run(tiny_data, tmp_path, "one", "train.epochs=1")
    row = history(out)[0]
    last, best = load_checkpoint(out / "last.pt"), load_checkpoint(out / "best.pt")
    assert tuple(last["progress"]["best_val"]) == (row["val/acc"], -row["val/loss"])
    assert last["progress"]["best_val"] == best["progress"]["best_val"]


def test_resume_refuses_other_settings_and_names_the_keys(tiny_data, tmp_path):
    from pointnet.training.checkpoint import CheckpointError

    _, part = run(tiny_data, tmp_path, "part", "train.epochs=1")
    with pytest.raises(CheckpointError, match=r"train\.lr: 0\.001 -> 0\.002.*with the same settings"):
        run(tiny_data, tmp_path, "other", "train.epochs=2", "train.lr=2e-3", f"resume={part}")
    assert load_checkpoint(part / "last.pt")["progress"]["epoch"] == 1  # untouched


def test_resume_accepts_a_changed_key_that_does_not_change_results(tiny_data, tmp_path):
    """``train.figures_every`` is a ``report`` key (pointnet.roles): a resume that changes it goes on."""
    _, part = run(tiny_data, tmp_path, "part", "train.epochs=1", "train.figures_every=5")
    run(tiny_data, tmp_path, "again", "train.epochs=2", "train.figures_every=1", "train.log_every=3",
        f"resume={part}")
    assert load_checkpoint(part / "last.pt")["progress"]["epoch"] == 2


def test_resume_under_another_variant_converts_the_optimiser_state(tiny_data, tmp_path):
    _, full = run(tiny_data, tmp_path, "full", "train.precision=float64")
    _, part = run(tiny_data, tmp_path, "part", "train.precision=float64", "train.epochs=1")
    run(tiny_data, tmp_path, "again", "train.precision=float64", "model/shared_mlp=linear", f"resume={part}")
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(part / "last.pt")
    assert b["model_args"]["shared_mlp"] == "linear" and a["model_args"]["shared_mlp"] == "conv1d"
    worst = max(float((a["model"][k] - b["model"][k]).abs().max()) for k in a["model"]
                if a["model"][k].is_floating_point())
    assert worst < 1e-6  # float64: the variants differ only in summation order


def test_a_non_finite_loss_before_any_checkpoint_says_none_was_saved(tiny_data, tmp_path, monkeypatch, caplog):
    original_loss = engine.classification_loss
    monkeypatch.setattr(engine, "classification_loss",
                        lambda *a, **k: (lambda loss, reg: (loss * float("nan"), reg))(*original_loss(*a, **k)))
    with pytest.raises(NonFiniteLossError):
        run(tiny_data, tmp_path, "nan0")
    assert "no checkpoint was saved" in caplog.text and "last good checkpoint" not in caplog.text


def test_metrics_json_holds_null_not_nan(tiny_data, tmp_path, monkeypatch):
    import pointnet.training.loop as loop_module
    monkeypatch.setattr(loop_module.TrainingLoop, "validate",
                        lambda self: {"val/loss": float("nan"), "val/acc": 0.5, "val/mean_class_acc": 0.5})
    _, out = run(tiny_data, tmp_path, "nanval", "train.epochs=1")

    def refuse(name):
        raise ValueError(f"metrics.json holds {name}")
    saved = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert saved["history"][0]["val/loss"] is None


def test_an_exception_inside_a_step_saves_nothing_and_the_handlers_are_restored(tiny_data, tmp_path, monkeypatch):
    """Only safe points write checkpoints: a KeyboardInterrupt (not our signal handler's doing) half-way
    through an optimiser step leaves no last.pt of that half-done state; the SIGINT handler comes back."""
    before = signal.getsignal(signal.SIGINT)
    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        calls["n"] += 1
        result = original_step(self, *args, **kwargs)
        if calls["n"] == 3:
            raise KeyboardInterrupt  # after the weights moved, before the batch is counted
        return result
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_data, tmp_path, "half")
    assert not (tmp_path / "outputs" / "day" / "half" / "last.pt").exists()
    assert signal.getsignal(signal.SIGINT) is before
