"""The PointNet classifier: same function under every variant, variant-agnostic checkpoints, sizes.

float64 comparisons use 1e-12 (the summation order differs between variants, see test_shared_mlp);
float32 uses 1e-4 on logits, since the 1024-wide layers accumulate more rounding.
"""
import io

import pytest
import torch

from pointnet import PointNet
from pointnet.nn.complexity import count_parameters, multiply_adds_per_sample
from pointnet.nn.losses import classification_loss, orthogonality_loss
from tests.helpers import VARIANT_PAIRS, VARIANTS, randomise_batchnorm, twin_pointnets

F64 = dict(rtol=1e-12, atol=1e-12)


def twins(a, b, dtype=torch.float64, **kw):
    return twin_pointnets(dict(shared_mlp=a, **kw), dict(shared_mlp=b, **kw), dtype)


@pytest.mark.parametrize("a,b", VARIANT_PAIRS)
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("channels", [3, 6])
def test_train_mode_logits_gradients_and_statistics_float64(a, b, fast, channels):
    # Batch 8: with 2-3 samples, train-mode BatchNorm on the (B, C) head divides by tiny batch
    # deviations and amplifies float64 rounding past 1e-12 (seen: 7e-11 at B=3, 2e-14 at B=8).
    # channels=6: xyz + normals, the input T-Net's transform applied to both.
    m1, m2 = twins(a, b, dropout=0.0, fast=fast, in_channels=channels)
    pts = torch.randn(8, 33, channels, dtype=torch.float64)
    labels = torch.tensor([0, 3, 6, 1, 2, 4, 5, 6])
    x1, x2 = pts.clone().requires_grad_(), pts.clone().requires_grad_()
    (l1, t1), (l2, t2) = m1(x1), m2(x2)
    torch.testing.assert_close(l1, l2, **F64)
    torch.testing.assert_close(t1, t2, **F64)
    classification_loss(l1, labels, t1)[0].backward()
    classification_loss(l2, labels, t2)[0].backward()
    torch.testing.assert_close(x1.grad, x2.grad, **F64)
    for (n, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        torch.testing.assert_close(p1.grad.reshape(p2.shape), p2.grad, **F64, msg=n)
    for (n, b1), b2 in zip(m1.named_buffers(), m2.buffers()):
        torch.testing.assert_close(b1, b2, **F64, msg=n)


@pytest.mark.parametrize("a,b", VARIANT_PAIRS)
@pytest.mark.parametrize("shape", [(1, 1024), (1, 1), (2, 7), (5, 129)])
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("channels", [3, 6])
def test_eval_mode_logits_float64_including_batch_of_one(a, b, shape, fast, channels):
    m1, m2 = twins(a, b, fast=fast, in_channels=channels)
    m1.eval(), m2.eval()
    pts = torch.randn(*shape, channels, dtype=torch.float64)
    with torch.no_grad():  # the fast variants' folded inference path
        torch.testing.assert_close(m1(pts)[0], m2(pts)[0], **F64)


@pytest.mark.parametrize("a,b", VARIANT_PAIRS)
def test_float32_logits_within_tolerance(a, b):
    m1, m2 = twins(a, b, dtype=torch.float32)
    m1.eval(), m2.eval()
    pts = torch.randn(2, 257, 3)
    torch.testing.assert_close(m1(pts)[0], m2(pts)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("src", VARIANTS)
@pytest.mark.parametrize("dst", VARIANTS)
def test_checkpoint_from_any_variant_loads_strictly_into_any_other(src, dst):
    saved = PointNet(5, shared_mlp=src)
    randomise_batchnorm(saved)
    buffer = io.BytesIO()
    torch.save(saved.state_dict(), buffer)
    buffer.seek(0)
    loaded = PointNet(5, shared_mlp=dst)
    loaded.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    saved.eval(), loaded.eval()
    pts = torch.randn(2, 64, 3)
    torch.testing.assert_close(saved(pts)[0], loaded(pts)[0], rtol=1e-4, atol=1e-4)


def test_t_nets_start_as_identity():
    model = PointNet(4).eval()
    pts = torch.randn(2, 16, 3)
    torch.testing.assert_close(model.input_tnet(pts), torch.eye(3).expand(2, 3, 3))
    _, transform = model(pts)
    torch.testing.assert_close(transform, torch.eye(64).expand(2, 64, 64))


def test_parameter_counts_match_the_paper():
    # Paper Table 6: 3.5M (PointNet), 0.8M (vanilla); exact counts for 40 classes with BN affine params.
    assert count_parameters(PointNet(40)) == 3_480_049
    assert count_parameters(PointNet(40, input_transform=False, feature_transform=False)) == 819_624
    for variant in VARIANTS:
        assert count_parameters(PointNet(40, shared_mlp=variant)) == 3_480_049


def test_multiply_adds_match_the_paper():
    # Paper Table 6: 440M FLOPs/sample (a multiply-add counted once) for PointNet, 148M vanilla.
    full = multiply_adds_per_sample(PointNet(40), num_points=1024)
    vanilla = multiply_adds_per_sample(PointNet(40, input_transform=False, feature_transform=False), 1024)
    assert full == 448_025_856
    assert vanilla == 151_857_152
    assert abs(full / 440e6 - 1) < 0.03 and abs(vanilla / 148e6 - 1) < 0.03


def test_orthogonality_loss_is_squared_frobenius():
    a = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])  # A A^T = diag(4, 1): ||I - AA^T||_F^2 = 9
    assert orthogonality_loss(a).item() == pytest.approx(9.0)
    rotation = torch.tensor([[[0.6, -0.8], [0.8, 0.6]]])
    assert orthogonality_loss(rotation).item() == pytest.approx(0.0, abs=1e-12)


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        PointNet(3)(torch.randn(2, 3, 10))
