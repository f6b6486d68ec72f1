"""The three shared-MLP variants compute one function (minGPT-style: same weights, compare outputs).

Tolerances: float64 agrees to 1e-12. float32 is not bitwise equal, because Linear (one GEMM over
B*N rows), Conv1d (a batched GEMM per sample) and the loop (N small GEMMs) sum products in different
orders; float32 rounding then differs by a few ulps, so float32 checks use rtol=atol=1e-5.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pointnet.nn.shared_mlp import SHARED_MLPS, shared_mlp_class
from tests.helpers import VARIANT_PAIRS, VARIANTS, twin_mlps

F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-5)


def twins(a: str, b: str, channels, dtype=torch.float64, **kw):
    """Two variants holding the same weights (b loads a's state_dict strictly); ``fast`` in ``kw``
    applies to both (the loop variant has one form)."""
    return twin_mlps(dict(shared_mlp=a, **kw), dict(shared_mlp=b, **kw), channels, dtype)


@pytest.mark.parametrize("a,b", VARIANT_PAIRS)
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("fast", [True, False])
def test_same_outputs_and_gradients_float64(a, b, train, fast):
    m1, m2 = twins(a, b, (5, 16, 7), last_relu=False, fast=fast)
    m1.train(train), m2.train(train)
    x1 = torch.randn(3, 11, 5, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = m1(x1), m2(x2)
    assert y1.shape == (3, 11, 7)
    torch.testing.assert_close(y1, y2, **F64)
    grad = torch.randn_like(y1)
    y1.backward(grad), y2.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, **F64)
    for (n1, p1), (n2, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert n1 == n2
        torch.testing.assert_close(p1.grad.reshape(p2.grad.shape), p2.grad, **F64, msg=n1)


@pytest.mark.parametrize("a,b", VARIANT_PAIRS)
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("pooled", [True, False])
def test_running_statistics_agree_float32(a, b, fast, pooled):
    m1, m2 = twins(a, b, (3, 8, 8), dtype=torch.float32, fast=fast)
    x = torch.randn(4, 9, 3)
    (m1.pool(x), m2.pool(x)) if pooled else (m1(x), m2(x))
    for (n1, b1), (_, b2) in zip(m1.named_buffers(), m2.named_buffers()):
        torch.testing.assert_close(b1, b2, **F32, msg=n1)
        if "running_mean" in n1:
            assert not torch.all(b1 == 0), "a training step must have moved the statistics"


@settings(max_examples=25, deadline=None)
@given(
    pair=st.sampled_from(VARIANT_PAIRS),
    batch=st.integers(1, 4),
    points=st.integers(1, 9),
    widths=st.lists(st.integers(1, 12), min_size=2, max_size=4),
    batch_norm=st.booleans(),
    fast=st.booleans(),
)
def test_property_same_function_any_shape(pair, batch, points, widths, batch_norm, fast):
    m1, m2 = twins(*pair, widths, batch_norm=batch_norm, fast=fast)
    m1.eval(), m2.eval()
    x = torch.randn(batch, points, widths[0], dtype=torch.float64)
    torch.testing.assert_close(m1(x), m2(x), **F64)
    with torch.no_grad():
        torch.testing.assert_close(m1.pool(x), m2.pool(x), **F64)


def test_parameter_names_and_stored_weight_form_match():
    dicts = {v: SHARED_MLPS[v]((3, 4, 5)).state_dict() for v in VARIANTS}
    shapes = [{k: tuple(t.shape) for k, t in d.items()} for d in dicts.values()]
    assert shapes[0] == shapes[1] == shapes[2]
    assert shapes[0]["layers.0.fc.weight"] == (4, 3)


def test_conv_style_weight_loads_into_linear():
    conv = torch.nn.Conv1d(3, 4, 1)
    mlp = SHARED_MLPS["linear"]((3, 4), batch_norm=False, last_relu=False)
    mlp.load_state_dict({"layers.0.fc.weight": conv.weight, "layers.0.fc.bias": conv.bias})
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(mlp(x), conv(x.transpose(1, 2)).transpose(1, 2), **F32)


def test_last_relu_and_unknown_variant():
    mlp = SHARED_MLPS["linear"]((3, 4, 5), last_relu=False)
    assert [layer.relu for layer in mlp.layers] == [True, False]
    with pytest.raises(ValueError, match="conv1d.*linear.*loop"):
        shared_mlp_class("conv2d")
