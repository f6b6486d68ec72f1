"""Fully connected layers as convolutions on images (``pointnet.explain.fc_as_conv``): same weights, same outputs.

Tolerances: float64 agrees to 1e-12. float32 uses rtol=atol=1e-5, because the Linear (one GEMM), the
convolutions (im2col/oneDNN kernels) and the sum-first form add the same products in different orders,
so float32 rounding differs by a few ulps of the O(1..10) outputs.
"""
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pointnet.explain import fc_as_conv as fc

F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-5)
TOL = {torch.float64: F64, torch.float32: F32}
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
BATCHES = pytest.mark.parametrize("batch", [1, 3])
C, H, W = fc.FEATURE_SHAPE
K = fc.NUM_CLASSES
BROKEN = 0.1
"""A broken equivalence changes outputs of size O(1) by O(1); 0.1 is far above any rounding error."""


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def image_fc(dtype):
    return nn.Linear(fc.PIXELS, fc.PIXELS).to(dtype)


def class_conv(dtype, channels=C, classes=K):
    return nn.Conv2d(channels, classes, 1).to(dtype)


@DTYPES
@BATCHES
@torch.no_grad()
def test_fc_equals_conv_with_one_full_image_kernel(dtype, batch):
    linear, image = image_fc(dtype), fc.random_image(batch, dtype)
    conv = fc.full_kernel_conv_from_linear(linear, fc.IMAGE_SIZE, fc.IMAGE_SIZE)
    assert conv.weight.shape == (784, 1, 28, 28)
    assert conv(image).shape == (batch, 784, 1, 1)
    torch.testing.assert_close(fc.full_kernel_conv_on_image(conv, image), fc.fc_on_image(linear, image), **TOL[dtype])


@DTYPES
@BATCHES
@torch.no_grad()
def test_fc_equals_one_by_one_conv_on_pixels_as_channels(dtype, batch):
    linear, image = image_fc(dtype), fc.random_image(batch, dtype)
    conv = fc.one_by_one_conv_from_linear(linear)
    assert conv.weight.shape == (784, 784, 1, 1)
    torch.testing.assert_close(fc.one_by_one_conv_on_image(conv, image), fc.fc_on_image(linear, image), **TOL[dtype])


@BATCHES
@torch.no_grad()
def test_full_kernel_on_a_non_square_image_keeps_rows_and_columns_apart(batch):
    linear, image = nn.Linear(5 * 7, 6).double(), torch.randn(batch, 1, 5, 7, dtype=torch.float64)
    conv = fc.full_kernel_conv_from_linear(linear, 5, 7)
    torch.testing.assert_close(fc.full_kernel_conv_on_image(conv, image), fc.fc_on_image(linear, image), **F64)
    with pytest.raises(ValueError):
        fc.full_kernel_conv_from_linear(linear, 6, 6)


@torch.no_grad()
def test_a_wrong_weight_reshape_is_detected():
    linear, image = image_fc(torch.float64), fc.random_image(2, torch.float64)
    expected = fc.fc_on_image(linear, image)
    conv = fc.full_kernel_conv_from_linear(linear, 28, 28)
    conv.weight.copy_(conv.weight.transpose(-1, -2).clone())  # kernel folded column-major
    assert max_abs_diff(fc.full_kernel_conv_on_image(conv, image), expected) > BROKEN
    conv = fc.one_by_one_conv_from_linear(linear)
    conv.weight.copy_(linear.weight.t().reshape(conv.weight.shape))  # (in, out) read as (out, in)
    assert max_abs_diff(fc.one_by_one_conv_on_image(conv, image), expected) > BROKEN
    conv, features = class_conv(torch.float64), fc.random_features(2)
    wrong = fc.linear_from_one_by_one_conv(conv)
    wrong.weight.copy_(conv.weight.reshape(C, K).t())  # right shape, wrong element order
    assert max_abs_diff(fc.linear_at_every_pixel(wrong, features), conv(features)) > BROKEN


@DTYPES
@BATCHES
@torch.no_grad()
def test_one_by_one_conv_equals_linear_at_every_pixel(dtype, batch):
    conv, features = class_conv(dtype), fc.random_features(batch, dtype=dtype)
    linear = fc.linear_from_one_by_one_conv(conv)
    out = conv(features)
    assert out.shape == (batch, K, H, W)
    torch.testing.assert_close(fc.linear_at_every_pixel(linear, features), out, **TOL[dtype])
    by_hand = torch.einsum("kc,bchw->bkhw", linear.weight, features) + linear.bias.view(K, 1, 1)
    torch.testing.assert_close(by_hand, out, **TOL[dtype])
    torch.testing.assert_close(linear(features[:, :, 2, 5]), out[:, :, 2, 5], **TOL[dtype])


@DTYPES
@BATCHES
@torch.no_grad()
def test_summed_class_maps_equal_linear_on_summed_features(dtype, batch):
    conv, features = class_conv(dtype), fc.random_features(batch, dtype=dtype)
    pooled = fc.sum_then_linear_layer(conv, H, W)
    summed = fc.summed_class_maps(conv, features)
    assert summed.shape == (batch, K)
    torch.testing.assert_close(pooled.weight, conv.weight.view(K, C), rtol=0, atol=0)
    torch.testing.assert_close(pooled.bias, conv.bias * (H * W), rtol=0, atol=0)
    torch.testing.assert_close(fc.sum_then_linear(pooled, features), summed, **TOL[dtype])


@BATCHES
@torch.no_grad()
def test_an_unscaled_bias_is_off_by_exactly_hw_minus_one_biases(batch):
    conv, features = class_conv(torch.float64), fc.random_features(batch)
    unscaled = fc.linear_from_one_by_one_conv(conv)
    gap = fc.summed_class_maps(conv, features) - fc.sum_then_linear(unscaled, features)
    torch.testing.assert_close(gap, ((H * W - 1) * conv.bias).expand(batch, K), **F64)
    assert gap.abs().max() > BROKEN


@DTYPES
@BATCHES
@torch.no_grad()
def test_general_fc_with_weights_tiled_over_pixels_equals_shared_form(dtype, batch):
    conv, features = class_conv(dtype), fc.random_features(batch, dtype=dtype)
    tiled = fc.general_fc_from_shared(conv, H, W)
    assert tiled.weight.shape == (K, C * H * W)
    blocks = tiled.weight.view(K, C, H * W)
    assert torch.equal(blocks, blocks[:, :, :1].expand_as(blocks)), "every pixel must use the same (K, C) block"
    torch.testing.assert_close(
        fc.general_fc_on_features(tiled, features), fc.summed_class_maps(conv, features), **TOL[dtype]
    )


@BATCHES
@torch.no_grad()
def test_general_fc_with_position_dependent_weights_is_not_a_shared_form(batch):
    features = fc.random_features(batch)
    rotated = fc.rotate_pixels(features)
    assert not torch.equal(rotated, features)
    torch.testing.assert_close(rotated.sum(dim=(2, 3)), features.sum(dim=(2, 3)), **F64)
    general = nn.Linear(C * H * W, K).double()
    for _ in range(3):  # the shared form ignores the rotation whatever its weights
        conv = class_conv(torch.float64)
        assert max_abs_diff(fc.general_fc_on_features(general, features), fc.summed_class_maps(conv, features)) > BROKEN
        shared_gap, general_gap = fc.pixel_permutation_gaps(conv, general, features)
        assert shared_gap < 1e-12
        assert general_gap > BROKEN


@torch.no_grad()
def test_no_shared_weights_fit_a_general_fc():
    """Least squares over all shared forms (W, b): they fit a tiled FC exactly and a general FC badly."""
    features = fc.random_features(100)
    design = torch.cat([features.sum(dim=(2, 3)), torch.full((100, 1), float(H * W), dtype=torch.float64)], 1)

    def relative_residual(model: nn.Linear) -> float:
        target = fc.general_fc_on_features(model, features)
        solution = torch.linalg.lstsq(design, target).solution
        return ((design @ solution - target).norm() / target.norm()).item()

    assert relative_residual(fc.general_fc_from_shared(class_conv(torch.float64), H, W)) < 1e-12
    assert relative_residual(nn.Linear(C * H * W, K).double()) > 0.5


def counted_multiply_adds(module: nn.Module, x: torch.Tensor) -> int:
    """Independent count: torch's FLOP counter reports 2 FLOPs per multiply-add."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    return counter.get_total_flops() // (2 * x.shape[0])


@torch.no_grad()
def test_parameter_and_multiply_add_counts_match_hand_formulas():
    linear = image_fc(torch.float32)
    full = fc.full_kernel_conv_from_linear(linear, 28, 28)
    point = fc.one_by_one_conv_from_linear(linear)
    conv = class_conv(torch.float32)
    per_pixel = fc.linear_from_one_by_one_conv(conv)
    pooled = fc.sum_then_linear_layer(conv, H, W)
    general = fc.general_fc_from_shared(conv, H, W)
    cases = [  # module, per-sample input shape, params, multiply-adds, all by hand
        (linear, (784,), 784 * 784 + 784, 784 * 784),
        (full, (1, 28, 28), 784 * 28 * 28 + 784, 784 * 28 * 28 * 1 * 1),
        (point, (784, 1, 1), 784 * 784 + 784, 784 * 784 * 1 * 1),
        (per_pixel, (7, 7, 64), 64 * 10 + 10, 64 * 10 * 7 * 7),
        (conv, (64, 7, 7), 64 * 10 + 10, 64 * 10 * 7 * 7),
        (pooled, (64,), 64 * 10 + 10, 64 * 10),
        (general, (64 * 7 * 7,), 64 * 7 * 7 * 10 + 10, 64 * 7 * 7 * 10),
        (nn.Conv2d(3, 8, 3, stride=2, padding=1), (3, 28, 28), 8 * 3 * 9 + 8, 8 * 3 * 9 * 14 * 14),
    ]
    for module, shape, params, macs in cases:
        assert fc.parameter_count(module) == params, module
        assert fc.multiply_adds(module, shape) == macs, module
        assert counted_multiply_adds(module, torch.randn(2, *shape)) == macs, module
    with pytest.raises(ValueError):
        fc.multiply_adds(conv, (3, 7, 7))


def test_run_all_checks_rows():
    state = torch.get_rng_state()
    rows = fc.run_all_checks(batch_size=2)
    assert torch.equal(torch.get_rng_state(), state), "run_all_checks must not move the global RNG"
    by_key = {row.key: row for row in rows}
    assert list(by_key) == ["1a", "1b", "2", "3a", "3b", "4a", "4b", "5a", "5b", "5c", "5d"]
    for row in rows:
        assert (row.compared_with is None) == (row.max_abs_diff is None)
        if row.compared_with is None:
            continue
        assert row.compared_with in by_key
        if row.key in ("5b", "5d"):
            assert row.max_abs_diff > BROKEN, row
        else:
            assert row.max_abs_diff < 1e-12, row
    assert [by_key[k].params for k in ("1a", "1b", "2")] == [784 * 784 + 784] * 3
    assert [by_key[k].multiply_adds for k in ("1a", "1b", "2")] == [784 * 784] * 3
    assert (by_key["4a"].multiply_adds, by_key["4b"].multiply_adds) == (64 * 10 * 49, 64 * 10)
    assert by_key["5b"].params == 64 * 49 * 10 + 10
    table = fc.format_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert "615,440" in table[2] and "614,656" in table[2]
