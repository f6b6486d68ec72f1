"""Fused kernels for the last shared-MLP layer, the one whose output is max-pooled over points.

The layer ``y = x W^T + b -> BatchNorm -> ReLU -> max over points`` holds most of PointNet's cost:
its activations are ``(B, N, 1024)``. Written as separate ops, autograd keeps three such tensors per
layer and backward runs two full-size GEMMs through a dense BatchNorm gradient. This module computes
the same function and the same gradients without ever holding that activation:

- forward runs the GEMM one chunk of samples at a time into a cache-sized buffer and keeps only what
  backward needs: per ``(sample, channel)`` the extreme value and the point that attains it (one
  flat ``(B, C)`` buffer each, filled chunk by chunk), plus the input's Gram matrix
  ``S = (x - x̄)^T (x - x̄)`` ``(C_in, C_in)``, which gives the batch variance (``w_c S w_c^T``, no pass
  over the ``(B, N, C)`` activation) and serves the backward below;
- backward uses that the gradient reaching BatchNorm is sparse (one point per sample and channel
  survives the max-pool), and that BatchNorm's gradient on the rest is affine in ``y``:
  ``dy = k * dz_sparse + c0 + q * (y - mean)`` per channel. So ``dy @ W`` and ``dy^T x`` reduce to
  ``(x - x̄) @ (W^T diag(q) W)`` and ``diag(q) W S`` with the input Gram matrix ``S = (x - x̄)^T (x - x̄)``,
  plus a gather over the surviving points: ``O(B N C_in^2)`` instead of ``O(B N C_in C)``.

Exactness: the same function and gradients as ``amax(relu(bn(linear(x))), dim=1)`` up to float
rounding (tested to 1e-12 in float64), except where several points attain a maximum. There the
whole gradient goes to one of them (the argmax), where ``amax`` splits it evenly: both are valid
subgradients. Ties come from duplicated points (padded files, repeated scan returns): copies of a
point are treated alike by every layer before the pool, and only their sum reaches a weight, so
every *parameter* gradient is the same either way; only the gradient with respect to each copy of an
input point differs (all on one copy instead of shared). A tie between distinct points (exact only in
integer-valued data) gets the other valid subgradient. Listing every tied point cost a second pass of
the layer's GEMM wherever points repeat: a step on clouds drawn with replacement ran at half speed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.autograd.function import once_differentiable

CHUNK_ELEMENTS = 1 << 20  # one chunk's (C, rows) buffer on a CPU: 4 MB in float32, kept in L2/L3
DEVICE_CHUNK_ELEMENTS = 1 << 28  # elsewhere (GPU) few large GEMMs beat cache locality
ARGMAX_BLOCKS = (64, 32, 16, 8)  # block sizes for the two-level argmax, largest first


def uses_batch_stats(bn: nn.BatchNorm1d) -> bool:
    """Whether ``bn`` normalises with the batch's statistics (training, or no running stats)."""
    return bn.training or bn.running_mean is None


def update_running_stats(bn: nn.BatchNorm1d, mean: torch.Tensor, var_unbiased: torch.Tensor) -> None:
    """Move ``bn``'s running statistics exactly as ``nn.BatchNorm1d.forward`` does in training.

    ``momentum=None`` is the cumulative average ``1 / num_batches_tracked``; the variance kept is the
    unbiased one. Training code may change ``bn.momentum`` at any time: it is read on every call.
    """
    running_mean, running_var, tracked = bn.running_mean, bn.running_var, bn.num_batches_tracked
    if not (bn.training and bn.track_running_stats and running_mean is not None):
        return
    assert running_var is not None and tracked is not None  # BatchNorm registers the three together
    tracked.add_(1)
    factor = 1.0 / float(tracked) if bn.momentum is None else bn.momentum
    with torch.no_grad():
        running_mean.copy_(factor * mean + (1 - factor) * running_mean)
        running_var.copy_(factor * var_unbiased + (1 - factor) * running_var)


def fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm1d | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``bn(x W^T + b)`` as one affine map ``x W'^T + b'``: ``(C, C_in), (C,)``.

    ``W' = diag(s) W`` and ``b' = s (b - running_mean) + beta`` with ``s = gamma / sqrt(var + eps)``.
    """
    b = bias if bias is not None else weight.new_zeros(weight.shape[0])
    if bn is None:
        return weight, b
    assert bn.running_mean is not None and bn.running_var is not None, "folding needs running statistics"
    scale = torch.rsqrt(bn.running_var + bn.eps)
    shift = -bn.running_mean
    if bn.weight is not None:
        scale = scale * bn.weight
    folded_bias = (b + shift) * scale
    if bn.bias is not None:
        folded_bias = folded_bias + bn.bias
    return weight * scale[:, None], folded_bias  # (C, C_in), (C,)


def samples_per_chunk(num_points: int, channels: int, device: torch.device) -> int:
    """Whole samples per GEMM chunk so the ``(channels, samples * num_points)`` buffer stays small."""
    budget = CHUNK_ELEMENTS if device.type == "cpu" else DEVICE_CHUNK_ELEMENTS
    return max(1, budget // max(1, num_points * channels))


def _chunks(batch: int, points: int, channels: int, device: torch.device) -> list[tuple[int, int]]:
    """``(first_sample, count)`` of each GEMM chunk, whole samples only."""
    step = samples_per_chunk(points, channels, device)
    return [(start, min(step, batch - start)) for start in range(0, batch, step)]


def _chunk_product(x: torch.Tensor, weight: torch.Tensor, start: int, count: int, out: torch.Tensor) -> torch.Tensor:
    """``weight @ x[start:start+count]^T`` into ``out``'s storage, as ``(C, count, N)``.

    ``x`` is ``(B, N, C_in)``, ``weight`` ``(C, C_in)``; the channels-major result makes every
    reduction over points a reduction over contiguous memory.
    """
    _, points, c_in = x.shape
    y = out[: weight.shape[0] * count * points].view(weight.shape[0], count * points)
    torch.mm(weight, x[start : start + count].reshape(-1, c_in).t(), out=y)  # (C, count*N)
    return y.view(weight.shape[0], count, points)


def _chunk_buffer(x: torch.Tensor, channels: int) -> torch.Tensor:
    batch, points, _ = x.shape
    return x.new_empty(channels * min(samples_per_chunk(points, channels, x.device), batch) * points)


def pooled_eval(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, relu: bool) -> torch.Tensor:
    """``max_n act(x W^T + b)`` for ``(B, N, C_in) -> (B, C)`` without the ``(B, N, C)`` activation.

    Adding a per-channel constant and ReLU are monotone, so they commute with the max: only the
    ``(B, C)`` maxima of ``x W^T`` get the bias and ReLU.
    """
    x = x.contiguous()
    batch, points, _ = x.shape
    buffer = _chunk_buffer(x, weight.shape[0])
    blocks = [_chunk_product(x, weight, start, count, buffer).amax(dim=2)  # (C, k)
              for start, count in _chunks(batch, points, weight.shape[0], x.device)]
    maxima = torch.cat(blocks, dim=1).t() + bias  # (B, C)
    return maxima.relu_() if relu else maxima


def _block_size(points: int) -> int:
    """Points per argmax block: a divisor giving at least two blocks, else all points in one."""
    return next((g for g in ARGMAX_BLOCKS if points % g == 0 and points // g >= 2), points)


@dataclass
class _Winners:
    """The batch's flat buffers, filled chunk by chunk: block maxima ``(B, C, N/g)``, the winning
    block ``(B, C)`` and that block's values ``(B, C, g)`` (sample-major, so every later step reads
    ``(B, C)`` tensors as they are)."""

    block_max: torch.Tensor
    which: torch.Tensor
    inside: torch.Tensor

    @classmethod
    def empty(cls, x: torch.Tensor, channels: int, block: int) -> _Winners:
        batch, points, _ = x.shape
        return cls(x.new_empty(batch, channels, points // block),
                   torch.zeros(batch, channels, dtype=torch.int64, device=x.device),
                   x.new_empty(batch, channels, block))

    def fill(self, y: torch.Tensor, start: int) -> None:
        """Two-level max of chunk ``y (C, k, N)`` over points: ``amax`` over blocks of ``g`` points,
        then the winning block's ``g`` values copied as whole contiguous rows (``index_select``;
        ``torch.max(dim)`` with indices is ~15x slower than ``amax`` here)."""
        channels, count, points = y.shape
        blocks, block = self.block_max.shape[2], self.inside.shape[2]
        rows = torch.arange(count * channels, device=y.device).view(channels, count).t()  # (k, C): (c*k + j)
        if blocks > 1:
            torch.amax(y.view(channels, count, blocks, block), dim=3,
                       out=self.block_max[start : start + count].permute(1, 0, 2))
            which = self.which[start : start + count]
            torch.argmax(self.block_max[start : start + count], dim=2, out=which)  # (k, C)
            rows = rows * blocks + which
        torch.index_select(y.reshape(-1, block), 0, rows.flatten(),
                           out=self.inside[start : start + count].view(-1, block))

    def argmax(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``values (B, C)`` and the flat point ``index (B, C)`` that attains each (one of them, on a tie)."""
        values, offset = self.inside.max(dim=2)  # (B, C)
        return values, self.which * self.inside.shape[2] + offset


def _extremes(x_centred: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample max over points of ``x_centred @ weight^T`` and its argmax: ``values, index (B, C)``.

    The loop over chunks runs few ops (GEMM, block max, row copy) into one flat buffer per quantity;
    the argmax runs once afterwards.
    """
    batch, points, _ = x_centred.shape
    channels = weight.shape[0]
    buffer = _chunk_buffer(x_centred, channels)
    winners = _Winners.empty(x_centred, channels, _block_size(points))
    for start, count in _chunks(batch, points, channels, x_centred.device):
        winners.fill(_chunk_product(x_centred, weight, start, count, buffer), start)  # (C, k, N)
    return winners.argmax()


class PooledLinearBatchNormReLU(torch.autograd.Function):
    """``max_n relu(bn(x W^T + b))`` with batch statistics: ``(B, N, C_in) -> (B, C)``.

    Also returns the batch mean and unbiased variance ``(C,)`` (not differentiable) for the caller to
    update running statistics. See the module docstring for the backward.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, beta, eps: float, relu: bool):
        batch, points, _ = x.shape
        rows = batch * points
        x_mean = x.reshape(rows, -1).mean(dim=0)  # (C_in,)
        sign = torch.where(gamma < 0, -1.0, 1.0).to(x.dtype)  # (C,): max of sign*y is max of bn(y)
        x_centred = x - x_mean  # (B, N, C_in)
        values, index = _extremes(x_centred, weight * sign[:, None])
        flat = x_centred.view(rows, -1)
        gram_x = flat.t() @ flat  # (C_in, C_in) = S, reused by the backward
        sumsq = torch.linalg.vecdot(weight @ gram_x, weight)  # (C,): sum over rows of y^2 = w S w^T
        var = sumsq / rows
        rstd = torch.rsqrt(var + eps)  # (C,)
        pooled = (gamma.abs() * rstd) * values + beta  # (B, C)
        if relu:
            pooled = pooled.relu_()
        mean = weight @ x_mean + (bias if bias is not None else 0)  # (C,)
        ctx.save_for_backward(x_centred, weight, gamma, sign, rstd, values, index, pooled, gram_x)
        ctx.relu = relu
        ctx.has_bias = bias is not None
        ctx.mark_non_differentiable(mean, sumsq)
        return pooled, mean, sumsq / max(rows - 1, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad, _grad_mean, _grad_var):
        x_centred, weight, gamma, sign, rstd, values, index, pooled, gram_x = ctx.saved_tensors
        batch, points, c_in = x_centred.shape
        rows = batch * points
        g = grad * (pooled > 0) if ctx.relu else grad  # (B, C): gradient reaching bn's output
        xhat = values * (sign * rstd)  # (B, C): normalised pre-activation at the pooled points
        grad_beta = g.sum(dim=0)
        grad_gamma = (g * xhat).sum(dim=0)
        k = gamma * rstd  # (C,): d bn / dy on the sparse part
        c0 = -rstd * gamma * grad_beta / rows  # (C,): constant part of dy
        q = -(rstd**2) * gamma * grad_gamma / rows  # (C,): dy coefficient of (y - mean)
        x_centred = x_centred.view(rows, c_in)
        sparse = _SparseRouting(index, points, k * g)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            gram_w = (weight.t() * q) @ weight  # (C_in, C_in) = W^T diag(q) W
            grad_x = torch.addmm(c0 @ weight, x_centred, gram_w)  # (B*N, C_in)
            sparse.add_to_input_grad(grad_x, weight)
            grad_x = grad_x.view(batch, points, c_in)
        if ctx.needs_input_grad[1]:
            grad_w = (weight * q[:, None]) @ gram_x  # (C, C_in)
            sparse.add_to_weight_grad(grad_w, x_centred)
        grad_b = torch.zeros_like(grad_beta) if ctx.has_bias else None
        return grad_x, grad_w, grad_b, grad_gamma, grad_beta, None, None


class _SparseRouting:
    """The sparse part ``k * dz`` of the BatchNorm input gradient: one value per pooled point.

    ``scaled (B, C)`` is ``k * g``; ``(b, c)`` routes it to row ``b*N + index[b, c]``, its argmax.
    """

    def __init__(self, index: torch.Tensor, points: int, scaled: torch.Tensor) -> None:
        batch = index.shape[0]
        self.rows = (index + points * torch.arange(batch, device=index.device)[:, None]).flatten()  # (B*C,)
        self.values = scaled  # (B, C)

    def add_to_input_grad(self, grad_x: torch.Tensor, weight: torch.Tensor) -> None:
        """``grad_x[row] += value * W[channel]`` for every routed point: ``(B*N, C_in)``."""
        contributions = self.values[:, :, None] * weight  # (B, C, C_in)
        grad_x.index_add_(0, self.rows, contributions.view(-1, weight.shape[1]))

    def add_to_weight_grad(self, grad_w: torch.Tensor, x_centred: torch.Tensor) -> None:
        """``grad_w[channel] += value * (x[row] - x̄)``: ``(C, C_in)``, one ``addcmul_`` per sample (a
        batched ``(C, 1, B) @ (C, B, C_in)`` product runs as C small GEMMs on a CPU: 30x the ops)."""
        batch, channels = self.values.shape
        picked = torch.index_select(x_centred, 0, self.rows).view(batch, channels, -1)  # (B, C, C_in)
        for b in range(batch):
            grad_w.addcmul_(picked[b], self.values[b, :, None])


def pooled_linear_bn_relu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm1d, relu: bool
) -> torch.Tensor:
    """Training-mode ``amax(act(bn(x W^T + b)), dim=1)``: ``(B, N, C_in) -> (B, C)``, updating
    ``bn``'s running statistics as ``nn.BatchNorm1d`` would."""
    pooled, mean, var = PooledLinearBatchNormReLU.apply(
        x.contiguous(), weight, bias, bn.weight, bn.bias, bn.eps, relu
    )
    update_running_stats(bn, mean, var)
    return pooled
