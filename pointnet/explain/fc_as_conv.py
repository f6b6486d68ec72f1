"""The same idea on images: fully connected layers written as convolutions, and where that stops.

PointNet's shared MLP is one Linear applied to every point, which ports write as a 1x1 Conv1d. This
module shows the image version on a 28x28 one-channel image and on a ``(B, C, H, W)`` feature map,
with random weights and exact comparisons:

1. A Linear ``784 -> 784`` on the flattened image is a ``Conv2d(1, 784, kernel_size=28)``: each filter
   covers the whole image, so it has exactly one output position (``full_kernel_conv_from_linear``).
2. It is also a ``Conv2d(784, 784, kernel_size=1)`` on the image reshaped to ``(B, 784, 1, 1)``: the
   pixels become channels of a single position (``one_by_one_conv_from_linear``).
3. A ``Conv2d(C, 10, kernel_size=1)`` on a feature map is one Linear ``C -> 10`` applied at every
   pixel (``linear_at_every_pixel``), exactly as a Conv1d with kernel 1 is PointNet's shared MLP.
4. Summing the 10 class maps of (3) over the pixels equals one Linear applied to the summed features,
   with the bias multiplied by ``H*W`` (``sum_then_linear``). As a function of all ``C*H*W`` inputs this
   is an FC layer whose weights are *shared across positions*, not a general FC over all pixels: it
   cannot tell a feature map from any rearrangement of its pixels (``pixel_permutation_gaps``).

``run_all_checks`` evaluates every claim and returns the rows that ``scripts/fc_as_conv.py`` prints;
``tests/test_fc_as_conv.py`` asserts them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

IMAGE_SIZE = 28
PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10
FEATURE_SHAPE = (64, 7, 7)
"""``(C, H, W)`` of the feature map for checks 3-5: what a small CNN leaves of a 28x28 image after two
2x downsamplings."""


def random_image(batch_size: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A batch of one-channel 28x28 images, ``(B, 1, 28, 28)``, with standard normal pixels."""
    return torch.randn(batch_size, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=dtype)


def random_features(
    batch_size: int, shape: Sequence[int] = FEATURE_SHAPE, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A batch of feature maps ``(B, C, H, W)`` with standard normal entries."""
    return torch.randn(batch_size, *shape, dtype=dtype)


def full_kernel_conv_from_linear(linear: nn.Linear, height: int, width: int) -> nn.Conv2d:
    """``Conv2d(1, out, kernel_size=(height, width))`` computing ``linear`` on a flattened image.

    Row ``o`` of the Linear weight ``(out, height*width)`` is filter ``o`` of shape ``(1, height, width)``:
    ``flatten`` orders pixels row-major, the same order ``view`` uses to fold the row back into a kernel.
    On ``(B, 1, height, width)`` the kernel fits once, so the output is ``(B, out, 1, 1)``.
    """
    if linear.in_features != height * width:
        raise ValueError(f"a {height}x{width} kernel needs {height * width} inputs, got {linear.in_features}")
    conv = nn.Conv2d(1, linear.out_features, (height, width), bias=linear.bias is not None)
    conv = conv.to(linear.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, 1, height, width))
        if conv.bias is not None:  # built with one exactly when linear has one
            conv.bias.copy_(linear.bias)
    return conv


def one_by_one_conv_from_linear(linear: nn.Linear) -> nn.Conv2d:
    """``Conv2d(in, out, kernel_size=1)`` computing ``linear`` on inputs reshaped to ``(B, in, 1, 1)``.

    With one spatial position a 1x1 convolution is a matrix product over channels, so the weight is
    the Linear's ``(out, in)`` matrix viewed as ``(out, in, 1, 1)``.
    """
    conv = nn.Conv2d(linear.in_features, linear.out_features, 1, bias=linear.bias is not None)
    conv = conv.to(linear.weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, linear.in_features, 1, 1))
        if conv.bias is not None:  # built with one exactly when linear has one
            conv.bias.copy_(linear.bias)
    return conv


def linear_from_one_by_one_conv(conv: nn.Conv2d) -> nn.Linear:
    """The ``Linear(C, K)`` holding a ``Conv2d(C, K, kernel_size=1)``'s numbers: weight ``(K, C, 1, 1) -> (K, C)``."""
    if conv.kernel_size != (1, 1) or conv.groups != 1:
        raise ValueError(f"expected an ungrouped 1x1 convolution, got {conv}")
    linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
    linear = linear.to(conv.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.view(conv.out_channels, conv.in_channels))
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear


def fc_on_image(linear: nn.Linear, image: torch.Tensor) -> torch.Tensor:
    """The fully connected layer on ``(B, 1, H, W)`` images: ``(B, H*W) -> (B, out)``."""
    return linear(image.flatten(1))


def full_kernel_conv_on_image(conv: nn.Conv2d, image: torch.Tensor) -> torch.Tensor:
    """Check 1's form: ``(B, 1, H, W) -> (B, out, 1, 1)``, flattened to ``(B, out)``."""
    return conv(image).flatten(1)


def one_by_one_conv_on_image(conv: nn.Conv2d, image: torch.Tensor) -> torch.Tensor:
    """Check 2's form: pixels become channels, ``(B, 1, H, W) -> (B, H*W, 1, 1) -> (B, out)``."""
    return conv(image.reshape(image.shape[0], -1, 1, 1)).flatten(1)


def linear_at_every_pixel(linear: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """One ``Linear(C, K)`` applied to each pixel's channel vector: ``(B, C, H, W) -> (B, K, H, W)``.

    Channels are moved last so the Linear sees ``B*H*W`` rows of ``C`` features, then moved back.
    """
    return linear(features.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def summed_class_maps(conv: nn.Conv2d, features: torch.Tensor) -> torch.Tensor:
    """Check 4's reference: the 1x1 convolution's class maps summed over pixels, ``(B, C, H, W) -> (B, K)``.

    Precisely: this is an FC layer over all ``C*H*W`` inputs whose ``(K, C)`` weight block is the same
    at every position (see ``general_fc_from_shared``), not a general FC over all pixels, so its output
    depends only on the per-channel sums and is unchanged by any rearrangement of the pixels.
    """
    return conv(features).sum(dim=(2, 3))


def sum_then_linear_layer(conv: nn.Conv2d, height: int, width: int) -> nn.Linear:
    """The ``Linear(C, K)`` that maps spatially summed features to ``summed_class_maps``'s output.

    ``sum_p (W x_p + b) = W (sum_p x_p) + H*W*b`` over the ``H*W`` pixels ``p``: the weight is the
    convolution's ``(K, C)`` matrix and the bias is its bias times ``height * width``, because every
    pixel's class map carries its own copy of ``b`` into the sum.
    """
    linear = linear_from_one_by_one_conv(conv)
    if linear.bias is not None:
        with torch.no_grad():
            linear.bias.mul_(height * width)
    return linear


def sum_then_linear(linear: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """Check 4's cheap form: sum the pixels first, then one Linear, ``(B, C, H, W) -> (B, C) -> (B, K)``."""
    return linear(features.sum(dim=(2, 3)))


def general_fc_from_shared(conv: nn.Conv2d, height: int, width: int) -> nn.Linear:
    """The ``Linear(C*H*W, K)`` over every input that equals ``summed_class_maps`` for ``conv``.

    Viewed as ``(K, C, H, W)``, its weight repeats the ``(K, C)`` 1x1 kernel at every position, and its
    bias is ``H*W`` times the convolution's. A general FC over ``C*H*W`` inputs has an independent
    ``(K, C)`` block per position (``K*C*H*W`` weights); the shared form is exactly the subset in which
    all blocks are equal (``K*C`` free weights).
    """
    k, c = conv.out_channels, conv.in_channels
    fc = nn.Linear(c * height * width, k, bias=conv.bias is not None).to(conv.weight.dtype)
    with torch.no_grad():
        fc.weight.copy_(conv.weight.view(k, c, 1, 1).expand(k, c, height, width).reshape(k, -1))
        if conv.bias is not None:
            fc.bias.copy_(conv.bias * (height * width))
    return fc


def general_fc_on_features(fc: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """A Linear over all ``C*H*W`` inputs of each sample: ``(B, C, H, W) -> (B, C*H*W) -> (B, K)``."""
    return fc(features.flatten(1))


def rotate_pixels(features: torch.Tensor) -> torch.Tensor:
    """The feature map turned by 180 degrees, ``(B, C, H, W)``: a rearrangement of the pixels that keeps
    each pixel's channel vector intact (a non-identity permutation of positions for ``H*W > 1``)."""
    return features.flip(-2, -1)


def pixel_permutation_gaps(
    conv: nn.Conv2d, general: nn.Linear, features: torch.Tensor
) -> tuple[float, float]:
    """Why the shared form cannot represent a general FC: ``(shared gap, general gap)``.

    Each gap is the max abs difference between a model's ``(B, K)`` outputs on ``features`` and on
    ``rotate_pixels(features)``. ``summed_class_maps`` sums the same per-pixel terms in another order,
    so its gap is rounding error for *every* choice of 1x1 weights. A general FC with
    position-dependent weights multiplies moved pixels by different weights, so its gap is large; no
    setting of the shared weights can then match it on both inputs.
    """
    rotated = rotate_pixels(features)
    shared_gap = summed_class_maps(conv, features) - summed_class_maps(conv, rotated)
    general_gap = general_fc_on_features(general, features) - general_fc_on_features(general, rotated)
    return shared_gap.abs().max().item(), general_gap.abs().max().item()


def parameter_count(module: nn.Module) -> int:
    """Number of scalars in ``module``'s parameters (weights and biases)."""
    return sum(p.numel() for p in module.parameters())


def _conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def multiply_adds(module: nn.Linear | nn.Conv2d, input_shape: Sequence[int]) -> int:
    """Multiply-adds of ``module`` on one sample of shape ``input_shape`` (no batch dimension).

    A Linear on ``(..., in)`` costs ``in * out`` per leading position; a Conv2d on ``(C, H, W)`` costs
    ``out * (C / groups) * kh * kw`` per output position. Bias additions and the spatial sums of
    check 4 are additions, not multiply-adds, and are not counted (as in ``pointnet.nn.complexity``).
    """
    if isinstance(module, nn.Linear):
        if input_shape[-1] != module.in_features:
            raise ValueError(f"{module} cannot take input of shape {tuple(input_shape)}")
        return math.prod(input_shape[:-1]) * module.in_features * module.out_features
    if isinstance(module, nn.Conv2d):
        if len(input_shape) != 3 or input_shape[0] != module.in_channels or isinstance(module.padding, str):
            raise ValueError(f"{module} cannot take input of shape {tuple(input_shape)}")
        positions = math.prod(
            _conv_output_size(size, *args)
            for size, *args in zip(
                input_shape[1:], module.kernel_size, module.stride, module.padding, module.dilation, strict=True
            )
        )
        per_position = module.out_channels * (module.in_channels // module.groups)
        return positions * per_position * math.prod(module.kernel_size)
    raise TypeError(f"multiply_adds counts nn.Linear and nn.Conv2d, not {type(module).__name__}")


@dataclass(frozen=True)
class CheckRow:
    """One form in ``run_all_checks``.

    ``key`` names the row; ``compared_with`` is the key of the row it is checked against and
    ``max_abs_diff`` the max abs difference of their outputs (both ``None`` for a reference row).
    ``params`` and ``multiply_adds`` (per sample) are the cost of this row's form.
    """

    key: str
    name: str
    compared_with: str | None
    max_abs_diff: float | None
    params: int
    multiply_adds: int


def _max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def run_all_checks(batch_size: int = 2, dtype: torch.dtype = torch.float64, seed: int = 0) -> list[CheckRow]:
    """Build every form from fresh random weights and inputs, and compare them.

    Rows 1a-2 use a ``(B, 1, 28, 28)`` image, rows 3a-5d a ``(B, *FEATURE_SHAPE)`` feature map. Rows
    5b and 5d are the two that are *meant* to differ: a general FC with position-dependent weights
    versus the shared form, and that FC on an input versus on its pixel-rotated copy (5c shows the
    shared form does not notice the rotation). The global RNG state is left untouched.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        image = random_image(batch_size, dtype)
        fc = nn.Linear(PIXELS, PIXELS).to(dtype)
        full_conv = full_kernel_conv_from_linear(fc, IMAGE_SIZE, IMAGE_SIZE)
        point_conv = one_by_one_conv_from_linear(fc)
        y_fc = fc_on_image(fc, image)
        image_shape = tuple(image.shape[1:])

        c, h, w = FEATURE_SHAPE
        features = random_features(batch_size, FEATURE_SHAPE, dtype)
        conv = nn.Conv2d(c, NUM_CLASSES, 1).to(dtype)
        per_pixel = linear_from_one_by_one_conv(conv)
        pooled = sum_then_linear_layer(conv, h, w)
        tiled = general_fc_from_shared(conv, h, w)
        general = nn.Linear(c * h * w, NUM_CLASSES).to(dtype)
        y_per_pixel = linear_at_every_pixel(per_pixel, features)
        y_summed = summed_class_maps(conv, features)
        shared_gap, general_gap = pixel_permutation_gaps(conv, general, features)

        hw = f"{h}x{w}"
        return [
            CheckRow("1a", f"Linear {PIXELS}->{PIXELS} on the flattened image", None, None,
                     parameter_count(fc), multiply_adds(fc, (PIXELS,))),
            CheckRow("1b", f"Conv2d {PIXELS} filters of 1x{IMAGE_SIZE}x{IMAGE_SIZE} on (B,1,28,28)", "1a",
                     _max_abs_diff(full_kernel_conv_on_image(full_conv, image), y_fc),
                     parameter_count(full_conv), multiply_adds(full_conv, image_shape)),
            CheckRow("2", f"Conv2d {PIXELS} filters of 1x1 on (B,{PIXELS},1,1)", "1a",
                     _max_abs_diff(one_by_one_conv_on_image(point_conv, image), y_fc),
                     parameter_count(point_conv), multiply_adds(point_conv, (PIXELS, 1, 1))),
            CheckRow("3a", f"Linear {c}->{NUM_CLASSES} at each of {hw} pixels", None, None,
                     parameter_count(per_pixel), multiply_adds(per_pixel, (h, w, c))),
            CheckRow("3b", f"Conv2d {NUM_CLASSES} filters of 1x1 on (B,{c},{h},{w})", "3a",
                     _max_abs_diff(conv(features), y_per_pixel),
                     parameter_count(conv), multiply_adds(conv, FEATURE_SHAPE)),
            CheckRow("4a", f"3b, class maps summed over {hw}", None, None,
                     parameter_count(conv), multiply_adds(conv, FEATURE_SHAPE)),
            CheckRow("4b", f"sum over {hw}, then Linear {c}->{NUM_CLASSES}, bias x{h * w}", "4a",
                     _max_abs_diff(sum_then_linear(pooled, features), y_summed),
                     parameter_count(pooled), multiply_adds(pooled, (c,))),
            CheckRow("5a", f"general FC {c * h * w}->{NUM_CLASSES}, 3b's weights at every pixel", "4a",
                     _max_abs_diff(general_fc_on_features(tiled, features), y_summed),
                     parameter_count(tiled), multiply_adds(tiled, (c * h * w,))),
            CheckRow("5b", f"general FC {c * h * w}->{NUM_CLASSES}, position-dependent weights", "4a",
                     _max_abs_diff(general_fc_on_features(general, features), y_summed),
                     parameter_count(general), multiply_adds(general, (c * h * w,))),
            CheckRow("5c", "4a on the input rotated 180 degrees", "4a", shared_gap,
                     parameter_count(conv), multiply_adds(conv, FEATURE_SHAPE)),
            CheckRow("5d", "5b on the input rotated 180 degrees", "5b", general_gap,
                     parameter_count(general), multiply_adds(general, (c * h * w,))),
        ]


def format_table(rows: Sequence[CheckRow]) -> str:
    """``rows`` as a plain-text table, one line per form; ``-`` marks a reference row."""
    header = ("row", "form", "vs", "max |diff|", "params", "multiply-adds")
    lines = [
        (r.key, r.name, r.compared_with or "-",
         "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}", f"{r.params:,}", f"{r.multiply_adds:,}")
        for r in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    left = (True, True, True, False, False, False)

    def render(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(n) if is_left else c.rjust(n)
                         for c, n, is_left in zip(cells, widths, left, strict=True)).rstrip()

    return "\n".join([render(header), render(["-" * n for n in widths]), *map(render, lines)])
