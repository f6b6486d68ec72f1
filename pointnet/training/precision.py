"""Numeric precision of a training run (``train.precision``): parameter dtype, matmul mode, autocast.

- ``float32`` (default): float32 parameters and IEEE float32 matmuls and convolutions, also on GPUs
  where torch would otherwise let cuDNN convolutions use TF32;
- ``float64``: float64 parameters (exactness checks, slow);
- ``tf32``: float32 parameters, CUDA matmuls and convolutions in TF32 (10-bit mantissa inputs,
  float32 accumulation: several times the float32 rate on Ampere and later; no effect on a CPU);
- ``bf16``: float32 parameters and optimiser, forward and loss under ``torch.autocast`` to bfloat16
  (matmuls in bf16, reductions and the loss in float32). On a CPU without native bf16 it runs but
  is far slower (the fused CPU kernels are float32/float64 only, so the plain ops run then).
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch


@dataclass(frozen=True)
class Precision:
    """``parameters``: the model's dtype; ``matmul``: CUDA fp32 matmul mode; ``autocast``: dtype or None."""

    parameters: torch.dtype
    matmul: str
    autocast: torch.dtype | None = None


PRECISIONS: Mapping[str, Precision] = MappingProxyType({
    "float32": Precision(torch.float32, "ieee"),
    "float64": Precision(torch.float64, "ieee"),
    "tf32": Precision(torch.float32, "tf32"),
    "bf16": Precision(torch.float32, "ieee", torch.bfloat16),
})


def precision(name: str) -> Precision:
    """The precision called ``name``; an unknown name lists the valid ones."""
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; choose one of {sorted(PRECISIONS)}") from None


def set_matmul_precision(name: str) -> None:
    """Put CUDA's float32 matmul and cuDNN convolution modes to ``name``'s (process-wide; CPU unaffected)."""
    tf32 = precision(name).matmul == "tf32"
    # the allow_tf32 flags, not the newer fp32_precision ones: once those are set, reading allow_tf32
    # (as torch.export and ONNX export do) raises for the rest of the process
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def autocast(name: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward's autocast context for ``name`` on ``device`` (a no-op context unless ``bf16``)."""
    dtype = precision(name).autocast
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
