"""The modern recipe: every key reaches the optimiser, schedule, loss or augmentation it names; the
defaults stay the paper's recipe."""
import json
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pointnet import PointNet
from pointnet.apps.common import data_settings
from pointnet.apps.config import ConfigError, validate
from pointnet.apps.run_data import load_splits
from pointnet.apps.train import recipe, train
from pointnet.data import Augmentation
from pointnet.nn.losses import classification_loss
from pointnet.training import loop as loop_module
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.epoch import Trainer
from pointnet.training.settings import TrainSettings
from pointnet.training.optim import build_optimizer, build_scheduler
from pointnet.training.state import TrainingState
from tests.helpers import compose, tiny_overrides


def test_defaults_are_the_papers_recipe():
    cfg = compose()
    assert (cfg.optimizer.name, cfg.optimizer.weight_decay, cfg.scheduler.name, cfg.scheduler.warmup_epochs) == (
        "adam", 0.0, "step", 0)
    assert (cfg.train.label_smoothing, cfg.train.grad_clip, cfg.train.ema_decay, cfg.train.cutmix_prob) == (0, 0, 0, 0)
    assert data_settings(cfg.data).augmentation() == Augmentation()  # rotation, jitter, isotropic scale, shift
    assert not Augmentation().anisotropic and Augmentation().point_dropout == 0


def reference_transform(aug: Augmentation, cloud: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The default augmentation written out for one xyz cloud, in float64: five uniforms (angle, scale, shift),
    then the jitter, drawn in that order from ``generator``."""
    angle, factor, *offset = torch.rand(1, 5, generator=generator)[0].double().tolist()
    c, s = math.cos(2.0 * math.pi * angle), math.sin(2.0 * math.pi * angle)
    rotation = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    scale = aug.scale[0] + (aug.scale[1] - aug.scale[0]) * factor
    moved = cloud.double() @ (scale * rotation).T + torch.tensor([aug.shift * (2.0 * u - 1.0) for u in offset],
                                                                 dtype=torch.float64)
    noise = (torch.randn(1, *cloud.shape, generator=generator)[0] * aug.jitter_sigma).clamp(-aug.jitter_clip,
                                                                                          aug.jitter_clip)
    return moved + noise.double()


def test_default_augmentation_rotates_scales_shifts_and_jitters_as_written():
    cloud = torch.from_numpy(np.random.default_rng(3).normal(size=(256, 3)).astype(np.float32))
    for seed in range(5):
        now = Augmentation().transform(cloud.clone(), torch.Generator().manual_seed(seed))
        expected = reference_transform(Augmentation(), cloud, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(now.double(), expected, rtol=0, atol=1e-5)


def test_modern_experiment_sets_each_element():
    cfg = compose(overrides=["experiment=modern"])
    plan = recipe(cfg)
    assert (plan.optimizer.name, plan.optimizer.weight_decay) == ("adamw", 0.05)
    assert (plan.scheduler.name, plan.scheduler.warmup_epochs) == ("cosine", 2)
    assert (plan.train.label_smoothing, plan.train.grad_clip, plan.train.lr) == (0.1, 1.0, 1e-3)
    assert (plan.train.ema_decay, plan.train.cutmix_prob) == (0.99, 0.0)
    assert (plan.train.reg_weight, recipe(compose()).train.reg_weight) == (0.016, 0.001)
    assert data_settings(cfg.data).augmentation() == Augmentation(rotate=False, jitter_sigma=0.0, scale=(0.8, 1.25),
                                                          shift=0.1, anisotropic=True, point_dropout=0.0)
    assert cfg.data.dense_points == 10000 and cfg.data.num_points == 1024


def test_optimizer_and_weight_decay_reach_the_optimizer(tiny_data):
    cfg = compose(overrides=tiny_overrides(tiny_data, "optimizer=adamw", "optimizer.weight_decay=0.05"))
    state = TrainingState({"num_classes": 3}, ["a", "b", "c"], recipe(cfg), 4, torch.device("cpu"), {})
    assert type(state.optimizer) is torch.optim.AdamW
    assert state.optimizer.param_groups[0]["weight_decay"] == 0.05


def test_warmup_then_cosine_schedule():
    epochs, warmup, lr, min_lr = 10, 2, 1e-3, 1e-5
    optimizer = build_optimizer("adamw", [torch.nn.Parameter(torch.zeros(1))], lr)
    scheduler = build_scheduler("cosine", optimizer, epochs, min_lr=min_lr, warmup_epochs=warmup)
    seen = []
    for _ in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rest = epochs - warmup
    cosine = [min_lr + (lr - min_lr) * (1 + math.cos(math.pi * e / rest)) / 2 for e in range(rest)]
    assert seen == pytest.approx([lr / 3, 2 * lr / 3] + cosine, rel=1e-9)
    step = build_scheduler("step", build_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr), 30, 20, 0.5)
    assert type(step) is torch.optim.lr_scheduler.StepLR  # no warm-up: the schedule as before


def test_label_smoothing_reaches_the_loss_and_the_epoch():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    smoothed, _ = classification_loss(logits, labels, None, 0.0, label_smoothing=0.2)
    manual = 0.8 * F.cross_entropy(logits, labels) + 0.2 * (-logits.log_softmax(1)).mean(1).mean()
    torch.testing.assert_close(smoothed, manual)
    model = PointNet(4, dropout=0.0).double()
    points = torch.randn(6, 16, 3, dtype=torch.float64)
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = Trainer(model, frozen, TrainSettings(reg_weight=0.0, label_smoothing=0.2), torch.device("cpu")).epoch(
        [(points, labels)], show_progress=False)
    with torch.no_grad():
        expected = F.cross_entropy(model.train()(points)[0], labels, label_smoothing=0.2)
    assert stats.loss == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_grad_clip_bounds_the_step(clip):
    torch.manual_seed(0)
    model = PointNet(4, dropout=0.0).double()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    sgd = torch.optim.SGD(model.parameters(), lr=1.0)  # the step is minus the (clipped) gradient
    batch = (torch.randn(6, 16, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1]))
    Trainer(model, sgd, TrainSettings(reg_weight=0.0, grad_clip=clip), torch.device("cpu")).epoch([batch],
                                                                                               show_progress=False)
    moved = float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())
    assert moved == pytest.approx(clip, rel=1e-6) if clip else moved > 0.1


def test_augmentation_and_dense_cache_reach_the_training_set(tiny_data):
    cfg = compose(overrides=tiny_overrides(tiny_data, "experiment=modern", "data.dense_points=96",
                                           "data.augment.point_dropout=0.5", "data.augment.mirror=zx"))
    splits = load_splits(cfg)
    assert splits.train.augment == data_settings(cfg.data).augmentation() and splits.train.augment.point_dropout == 0.5
    assert splits.train.augment.mirror == (2, 0)  # the data's own axes: here z up
    assert splits.train.point_set.num_points == 96 and splits.val.augment is None
    first = splits.train[0][0]
    splits.train.set_epoch(1)
    assert not torch.equal(first, splits.train[0][0])  # a fresh subset (and augmentation) each epoch


def test_a_modern_run_passes_every_key_to_the_epoch(tiny_data, tmp_path, monkeypatch):
    calls = []

    epoch = Trainer.epoch

    def spy(self, *args, **kwargs):  # the real epoch, with the recipe it reads recorded
        calls.append(self.settings)
        return epoch(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "epoch", spy)
    out = tmp_path / "outputs" / "day" / "modern"
    out.mkdir(parents=True)
    overrides = tiny_overrides(tiny_data, "experiment=modern", "data.dense_points=96", "train.epochs=3",
                               "scheduler.warmup_epochs=1")
    metrics = train(compose(overrides=overrides), run_dir=out)
    assert 0 <= metrics["test/best_acc"] <= 1
    assert {(c.label_smoothing, c.grad_clip, c.reg_weight) for c in calls} == {(0.1, 1.0, 0.016)}
    assert load_checkpoint(out / "best.pt")["average_updates"] > 0  # best.pt holds the moving average
    lrs = [row["lr"] for row in json.loads((out / "metrics.json").read_text())["history"]]
    assert lrs == pytest.approx([5e-4, 1e-3, 1e-5 + (1e-3 - 1e-5) / 2], rel=1e-9)  # warm-up, then cosine


@pytest.mark.parametrize("override,key", [
    ("scheduler.warmup_epochs=2", "scheduler.warmup_epochs"),  # train.epochs=2 in tiny runs
    ("train.label_smoothing=1.0", "train.label_smoothing"),
    ("train.grad_clip=-1", "train.grad_clip"),
    ("optimizer.weight_decay=-0.1", "optimizer.weight_decay"),
    ("data.augment.point_dropout=1.0", "data.augment.point_dropout"),
    ("data.augment.scale_low=0", "data.augment.scale_low"),
    ("data.augment.mirror=xx", "data.augment.mirror"),
    ("data.augment.mirror=w", "data.augment.mirror"),
])
def test_bad_recipe_values_are_refused_naming_the_key(tiny_data, override, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        validate(compose(overrides=tiny_overrides(tiny_data, override)))
