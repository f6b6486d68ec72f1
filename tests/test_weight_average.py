"""``train.ema_decay``: the moving average of the weights, what a run validates, tests and saves with it."""
import pytest
import torch
from torch import nn

from pointnet.apps.config import ConfigError, validate
from pointnet.apps.evaluate import evaluate_checkpoint
from pointnet.apps.train import train
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.weight_average import WeightAverage
from tests.helpers import compose, tiny_overrides


def test_the_average_follows_the_warmed_up_recurrence():
    torch.manual_seed(0)
    live = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).double()
    average = WeightAverage(live, decay=0.5)
    expected = {k: v.clone() for k, v in live.state_dict().items()}
    for n in range(12):  # d_n = min(0.5, (1 + n) / (10 + n)): 0.1, 0.18, ..., 0.47, then 0.5 from n = 8 on
        with torch.no_grad():
            for tensor in live.state_dict().values():
                tensor.copy_(torch.randn_like(tensor) if tensor.is_floating_point() else tensor + 3)
        decay = min(0.5, (1 + n) / (10 + n))
        assert average.current_decay() == pytest.approx(decay, rel=1e-15)
        average.update(live)
        for key, value in live.state_dict().items():
            expected[key] = decay * expected[key] + (1 - decay) * value if value.is_floating_point() else value.clone()
    assert average.updates == 12 and average.current_decay() == 0.5
    for key, value in average.model.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-13, atol=1e-13)
    assert not any(p.requires_grad for p in average.model.parameters())
    assert int(average.model[1].num_batches_tracked) == int(live[1].num_batches_tracked)  # copied, not averaged


def run(tiny_data, tmp_path, name, *extra):
    out = tmp_path / "outputs" / "day" / name
    out.mkdir(parents=True)
    return train(compose(overrides=tiny_overrides(tiny_data, "train.ema_decay=0.9", *extra)), run_dir=out), out


def test_a_run_validates_tests_and_saves_the_average(tiny_data, tmp_path, monkeypatch):
    seen = []  # the trained weights when the average starts, then after every step
    init, update = WeightAverage.__init__, WeightAverage.update

    def record(model):
        seen.append({k: v.detach().double().clone() if v.is_floating_point() else v.clone()
                     for k, v in model.state_dict().items()})

    def recording_init(self, model, decay):
        record(model)
        init(self, model, decay)

    def recording_update(self, model):
        record(model)
        update(self, model)

    monkeypatch.setattr(WeightAverage, "__init__", recording_init)
    monkeypatch.setattr(WeightAverage, "update", recording_update)
    metrics, out = run(tiny_data, tmp_path, "ema")
    state = load_checkpoint(out / "last.pt")
    assert state["average_updates"] == len(seen) - 1 == state["progress"]["global_step"] > 0
    expected = seen[0]
    for n, weights in enumerate(seen[1:]):
        d = min(0.9, (1 + n) / (10 + n))
        expected = {k: d * expected[k] + (1 - d) * v if v.is_floating_point() else v for k, v in weights.items()}
    for key, value in state["model"].items():  # the saved model is the average of the trained weights
        torch.testing.assert_close(value.double() if value.is_floating_point() else value, expected[key],
                                   rtol=1e-5, atol=1e-6)
        assert torch.equal(state["trained_model"][key].double() if value.is_floating_point()
                           else state["trained_model"][key], seen[-1][key])  # resumes from the trained ones
    assert any(not torch.equal(state["model"][k], state["trained_model"][k]) for k in state["model"])
    evaluated = evaluate_checkpoint(compose("eval", [f"checkpoint={out / 'last.pt'}"]), tmp_path / "eval", [])
    assert evaluated["acc"] == pytest.approx(metrics["test/acc"])  # the test figure is the average's
    best = load_checkpoint(out / "best.pt")
    assert best["model"].keys() == best["trained_model"].keys()


def test_bad_decay_is_refused_naming_the_key(tiny_data):
    with pytest.raises(ConfigError, match="^train.ema_decay: "):
        validate(compose(overrides=tiny_overrides(tiny_data, "train.ema_decay=1.0")))
