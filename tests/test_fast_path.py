"""The fast path computes the plain form's function: outputs, gradients, running statistics.

Every comparison holds the same weights in a ``fast=True`` and a ``fast=False`` module and checks
float64 to 1e-12 (the fast path sums in other orders, so equality is to rounding, not bitwise).
Small shapes keep the file fast; chunking and the two-level argmax are forced onto small shapes
with ``monkeypatch`` so their multi-chunk and tie paths run too.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pointnet import PointNet
from pointnet.nn import fused
from pointnet.nn.losses import classification_loss
from tests.helpers import twin_mlps, twin_pointnets

F64 = dict(rtol=1e-12, atol=1e-12)
FAST_VARIANTS = ("linear", "conv1d")


def mlp_pair(variant: str, channels, **kw):
    """(fast, plain) shared MLPs of one variant with the same float64 weights, some BN scales negative."""
    return twin_mlps(dict(shared_mlp=variant, fast=True, **kw), dict(shared_mlp=variant, fast=False, **kw),
                     channels, negative_scales=True)


def summed_over_copies(grad: torch.Tensor, copies: torch.Tensor) -> torch.Tensor:
    """``(B, N, C)`` input gradients summed over the rows that copy one point: ``copies (B, N)`` names it."""
    out = torch.zeros(grad.shape[0], int(copies.max()) + 1, grad.shape[2], dtype=grad.dtype)
    return out.scatter_add_(1, copies[:, :, None].expand_as(grad), grad)


def assert_same_step(fast, plain, run, x: torch.Tensor, copies: torch.Tensor | None = None) -> None:
    """``run(module, x)`` on both: outputs, input and parameter gradients, buffers afterwards.

    ``copies (B, N)``: which point each row of ``x`` copies. The fast path gives a tied maximum's
    gradient to one copy where ``amax`` shares it, so input gradients are compared summed over copies
    (every parameter gradient is the same either way).

    Parameter gradients get an absolute tolerance of 1e-12 times the largest gradient: a Linear bias
    followed by train-mode BatchNorm has gradient exactly 0, which the fused kernel returns, while
    the plain ops return rounding noise proportional to the layer's other gradients (seen: 1.2e-12
    next to a weight gradient of 7.6).
    """
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = run(fast, x1), run(plain, x2)
    torch.testing.assert_close(y1, y2, **F64)
    grad = torch.randn_like(y1)
    y1.backward(grad), y2.backward(grad)
    if copies is None:
        torch.testing.assert_close(x1.grad, x2.grad, **F64)
    else:
        torch.testing.assert_close(summed_over_copies(x1.grad, copies), summed_over_copies(x2.grad, copies), **F64)
    scale = max(1.0, max(float(p.grad.abs().max()) for p in plain.parameters() if p.grad is not None))
    for (name, p1), p2 in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p1.grad.reshape(p2.grad.shape), p2.grad, rtol=1e-12, atol=1e-12 * scale,
                                   msg=name)
    for (name, b1), b2 in zip(fast.named_buffers(), plain.buffers()):
        torch.testing.assert_close(b1, b2, **F64, msg=name)


def pool(mlp, x):
    return mlp.pool(x)


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("run", [pool, torch.nn.Module.__call__], ids=["pool", "forward"])
def test_train_mode_two_steps_float64(variant, momentum, run):
    fast, plain = mlp_pair(variant, (5, 16, 12))
    for m in (*fast.modules(), *plain.modules()):
        if isinstance(m, torch.nn.BatchNorm1d):
            m.momentum = momentum
    for step in range(2):  # the second step checks the cumulative average and moved statistics
        assert_same_step(fast, plain, run, torch.randn(3, 11, 5, dtype=torch.float64))
        fast.zero_grad(), plain.zero_grad()
    assert int(fast.layers[-1].bn.num_batches_tracked) == 2


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("last_relu", [True, False])
def test_multiple_chunks_and_blocked_argmax(variant, last_relu, monkeypatch):
    monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 2 * 32 * 16)  # two samples a chunk, a partial last
    fast, plain = mlp_pair(variant, (4, 8, 16), last_relu=last_relu)
    assert_same_step(fast, plain, pool, torch.randn(5, 32, 4, dtype=torch.float64))


def drawn_with_replacement(batch: int, points: int, channels: int, seed: int = 0):
    """Clouds whose ``points`` rows are drawn with replacement from their own ``points`` random points
    (about a third are copies, and most channels' maxima tie), and which point each row copies."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(batch, points, channels, dtype=torch.float64, generator=generator)
    copies = torch.randint(0, points, (batch, points), generator=generator)
    return torch.gather(base, 1, copies[:, :, None].expand(-1, -1, channels)), copies


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("points", [64, 7])  # blocked argmax across chunks, and one block for an odd count
def test_duplicated_points_give_the_plain_forms_parameter_gradients(variant, points, monkeypatch):
    monkeypatch.setattr(fused, "CHUNK_ELEMENTS", 2 * points * 16)
    fast, plain = mlp_pair(variant, (3, 8, 16))
    x, copies = drawn_with_replacement(5, points, 3)
    assert (summed_over_copies(torch.ones_like(x), copies)[..., 0] > 1).any()  # some points are repeated
    assert_same_step(fast, plain, pool, x, copies)


def test_duplicated_points_in_the_whole_model():
    fast, plain = model_pair("conv1d")
    x, copies = drawn_with_replacement(4, 32, 3, seed=1)
    labels = torch.tensor([0, 3, 6, 1])

    def loss(model, points):
        logits, transform = model(points)
        return classification_loss(logits, labels, transform)[0]

    assert_same_step(fast, plain, loss, x, copies)


def test_zero_scale_falls_back_to_the_plain_ops():
    fast, plain = mlp_pair("linear", (3, 8, 6))
    with torch.no_grad():
        for m in (fast, plain):
            m.layers[-1].bn.weight[2] = 0.0  # every point ties on this channel
    assert_same_step(fast, plain, pool, torch.randn(2, 9, 3, dtype=torch.float64))


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (3, 64)])
def test_eval_mode_folded_inference_float64(variant, shape):
    fast, plain = mlp_pair(variant, (5, 16, 32))
    fast.eval(), plain.eval()
    x = torch.randn(*shape, 5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast.pool(x), plain.pool(x), **F64)
        torch.testing.assert_close(fast(x), plain(x), **F64)
    assert_same_step(fast, plain, pool, x)  # eval with gradients: plain ops on rows


def test_fast_path_really_runs_the_fused_kernels(monkeypatch):
    calls = {"train": 0, "eval": 0}
    train_kernel, eval_kernel = fused.PooledLinearBatchNormReLU.apply, fused.pooled_eval

    def counting_train(*args):
        calls["train"] += 1
        return train_kernel(*args)

    def counting_eval(*args):
        calls["eval"] += 1
        return eval_kernel(*args)

    monkeypatch.setattr(fused.PooledLinearBatchNormReLU, "apply", counting_train)
    monkeypatch.setattr("pointnet.nn.fast_path.pooled_eval", counting_eval)
    model = PointNet(4, shared_mlp="conv1d")
    pts = torch.randn(2, 16, 3)
    model(pts)
    with torch.no_grad():
        model.eval()(pts)
    assert calls == {"train": 3, "eval": 3}  # input T-Net, feature T-Net, trunk


def model_pair(variant: str, plain_variant: str | None = None):
    return twin_pointnets(dict(shared_mlp=variant, fast=True, dropout=0.0),
                          dict(shared_mlp=plain_variant or variant, fast=False, dropout=0.0), negative_scales=True)


@pytest.mark.parametrize("variant,plain_variant", [("linear", "linear"), ("conv1d", "conv1d"), ("linear", "conv1d")])
def test_model_training_step_float64(variant, plain_variant):
    fast, plain = model_pair(variant, plain_variant)
    pts = torch.randn(8, 33, 3, dtype=torch.float64)
    labels = torch.tensor([0, 3, 6, 1, 2, 4, 5, 6])

    def loss(model, x):
        logits, transform = model(x)
        return classification_loss(logits, labels, transform)[0]

    assert_same_step(fast, plain, loss, pts)


@pytest.mark.parametrize("variant", FAST_VARIANTS)
@pytest.mark.parametrize("shape", [(1, 1024), (1, 1), (5, 129)])
def test_model_eval_no_grad_float64(variant, shape):
    fast, plain = model_pair(variant)
    fast.eval(), plain.eval()
    pts = torch.randn(*shape, 3, dtype=torch.float64)
    with torch.no_grad():
        (l1, t1), (l2, t2) = fast(pts), plain(pts)
        torch.testing.assert_close(l1, l2, **F64)
        torch.testing.assert_close(t1, t2, **F64)
        torch.testing.assert_close(fast.point_features(pts)[0], plain.point_features(pts)[0], **F64)


def test_fast_flag_keeps_state_dict_and_can_be_switched():
    fast, plain = PointNet(5, fast=True), PointNet(5, fast=False)
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    assert fast.fast and not plain.fast
    fast.fast = False
    assert not any(m.fast for m in fast.modules() if hasattr(m, "has_fast_path"))
    assert not PointNet(5, shared_mlp="loop", fast=True).fast  # the loop has only its plain form


@settings(max_examples=15, deadline=None)
@given(
    variant=st.sampled_from(FAST_VARIANTS),
    batch=st.integers(1, 4),
    points=st.integers(1, 12),
    widths=st.lists(st.integers(1, 10), min_size=2, max_size=4),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_pool_matches_plain_any_shape(variant, batch, points, widths, train, seed):
    torch.manual_seed(seed)  # each example reproducible on its own
    fast, plain = mlp_pair(variant, widths)
    fast.train(train), plain.train(train)
    x = torch.randn(batch, points, widths[0], dtype=torch.float64)
    if train and batch * points == 1:
        with pytest.raises(ValueError, match="more than 1 value"):
            fast.pool(x)
        return
    assert_same_step(fast, plain, pool, x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model_and_fused_kernel_match_plain_float64():
    fast, plain = model_pair("linear")
    fast, plain = fast.cuda(), plain.cuda()
    pts = torch.randn(8, 65, 3, dtype=torch.float64, device="cuda")
    pts[:, 7] = pts[:, 0]  # ties on the device too
    labels = torch.tensor([0, 3, 6, 1, 2, 4, 5, 6], device="cuda")

    def loss(model, x):
        logits, transform = model(x)
        return classification_loss(logits, labels, transform)[0]

    assert_same_step(fast, plain, loss, pts)  # CUDA runs the plain ops on rows
    mlp_fast, mlp_plain = (m.cuda() for m in mlp_pair("linear", (5, 16, 32)))
    layer = mlp_fast.layers[-1]

    def fused_kernel(mlp, x):  # called directly: the kernel itself is device-agnostic
        if mlp is mlp_plain:
            return mlp.pool(x)
        first = mlp.layers[0]
        hidden = first.bn((x @ first.fc.weight.t() + first.fc.bias).flatten(0, 1)).relu().view(*x.shape[:2], -1)
        return fused.pooled_linear_bn_relu(hidden, layer.fc.weight, layer.fc.bias, layer.bn, True)

    assert_same_step(mlp_fast, mlp_plain, fused_kernel, torch.randn(3, 40, 5, dtype=torch.float64, device="cuda"))
