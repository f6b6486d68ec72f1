"""The one timer of the benchmarks: wall seconds of a call, synchronised on an accelerator."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

NUM_CLASSES = 40  # ModelNet40's: every benchmark model has this head


def sync(device: torch.device | None) -> None:
    """Wait for ``device``'s queued kernels (CUDA launches are asynchronous); nothing on a CPU."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], device: torch.device | None = None) -> float:
    """Wall seconds of one ``fn()``, its device work included."""
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 0,
                   device: torch.device | None = None) -> float:
    """Median of ``repeats`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    sync(device)
    return statistics.median(seconds(fn, device) for _ in range(repeats))
