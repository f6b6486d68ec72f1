"""``train.precision`` (float32, float64, tf32, bf16), ``train.compile_mode`` and ``train.device_data``.

TF32 only changes CUDA kernels, so on a CPU the tests check the process-wide modes it sets; bf16
autocast runs on a CPU too (slowly), so its numbers are checked against float32 here. Training
runs go through the real app on the tiny data set.
"""
import pytest
import torch

from pointnet import PointNet
from pointnet.apps.config import ConfigError, validate
from pointnet.apps.train import train
from pointnet.nn.losses import classification_loss
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.precision import PRECISIONS, autocast, precision, set_matmul_precision
from tests.helpers import compose, tiny_overrides

CPU = torch.device("cpu")


def test_names_map_to_dtypes_and_modes():
    assert precision("float32").parameters is torch.float32 and precision("float32").autocast is None
    assert precision("float64").parameters is torch.float64
    assert precision("tf32").matmul == "tf32" and precision("tf32").parameters is torch.float32
    assert precision("bf16").autocast is torch.bfloat16 and precision("bf16").parameters is torch.float32
    with pytest.raises(ValueError, match="unknown precision 'fp8'.*'bf16'"):
        precision("fp8")


def test_tf32_sets_cudas_matmul_and_convolution_modes_and_float32_resets_them():
    try:
        set_matmul_precision("tf32")
        assert torch.backends.cuda.matmul.allow_tf32 is True and torch.backends.cudnn.allow_tf32 is True
    finally:
        set_matmul_precision("float32")
    # read through the legacy flags, as torch.export does: mixing in the fp32_precision API made this raise
    assert torch.backends.cuda.matmul.allow_tf32 is False and torch.backends.cudnn.allow_tf32 is False


@pytest.mark.parametrize("variant", ["linear", "conv1d"])
def test_bf16_autocast_is_close_to_float32_and_bypasses_the_cpu_kernels(variant):
    """Eval mode compares numbers (train-mode BatchNorm over 4 small clouds magnifies bf16 rounding);
    train mode checks that the backward runs through autocast's casts with finite gradients."""
    torch.manual_seed(0)
    model = PointNet(5, variant, dropout=0.0).eval()
    points, labels = torch.randn(4, 64, 3), torch.randint(0, 5, (4,))
    with torch.no_grad():
        reference, _ = model(points)
        with autocast("bf16", CPU):
            logits, _ = model(points)
    assert logits.dtype is torch.bfloat16  # the forward really ran in bf16 (the fused kernels would give float32)
    torch.testing.assert_close(logits.float(), reference, rtol=0.02, atol=0.02 * float(reference.abs().max()))
    model.train()
    with autocast("bf16", CPU):
        logits, transform = model(points)
        loss, _ = classification_loss(logits, labels, transform)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    features = torch.randn(2, 16, 64)
    for mode in (False, True):  # eval (folded kernel) and train (fused kernel) would both give float32
        model.train(mode)
        with torch.set_grad_enabled(mode), autocast("bf16", CPU):
            assert model.mlp2.pool(features).dtype is torch.bfloat16
    with autocast("float32", CPU):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("extra", [["train.precision=bf16", "train.device_data=true"], ["train.precision=tf32"]],
                         ids=["bf16-device-data", "tf32"])
def test_training_runs_in_each_precision(tiny_data, tmp_path, extra):
    out = tmp_path / "outputs" / "day" / "run"
    out.mkdir(parents=True)
    metrics = train(compose(overrides=tiny_overrides(tiny_data, "train.epochs=1", *extra)), run_dir=out)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    state = load_checkpoint(out / "last.pt")
    assert all(v.dtype is torch.float32 for v in state["model"].values() if v.is_floating_point())
    assert state["config"]["train"]["precision"] == extra[0].split("=")[1]


@pytest.mark.parametrize("override, key", [
    (["train.precision=fp16"], "train.precision"),
    (["train.compile_mode=reduce-overhead"], "train.compile_mode"),
    (["train.compile=true", "train.compile_mode=fastest"], "train.compile_mode"),
    (["train.device_data=true", "train.num_workers=2"], "train.num_workers"),
])
def test_bad_values_name_their_key(tiny_data, override, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        validate(compose(overrides=[f"data.root={tiny_data}", *override]))


def test_every_precision_and_compile_mode_validates(tiny_data):
    for name in PRECISIONS:
        validate(compose(overrides=[f"data.root={tiny_data}", f"train.precision={name}"]))
    validate(compose(overrides=[f"data.root={tiny_data}", "train.compile=true", "train.compile_mode=reduce-overhead"]))
