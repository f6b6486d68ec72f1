"""glibc's allocator tuned for PointNet's large per-point activations.

PointNet's per-point activations are large (32 x 1024 x 1024 float32 = 128 MB). glibc malloc serves
blocks above its mmap threshold with fresh ``mmap`` calls and returns them on free, so every training
step page-faults gigabytes of zeroed memory; on a 2-core machine that system time was most of a step.
``tune_malloc`` keeps freed blocks in the heap instead (the same effect as the environment variables
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large>``), so entry points get the speed-up without the
user setting anything.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 2**31 - 1  # mallopt takes a C int: the largest threshold it accepts

_applied: bool | None = None


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (the only one with these ``mallopt`` parameters), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def tune_malloc() -> bool:
    """Serve large blocks from a heap that is kept between steps (glibc ``mallopt``).

    Sets ``M_MMAP_MAX=0`` (no mmap for large blocks) and a 2 GiB ``M_TRIM_THRESHOLD`` (keep up to that
    much freed memory at the heap top instead of returning it to the kernel). Call it at start-up, before
    the first large allocation; later calls do nothing. Returns whether the settings are in force (False off
    glibc, e.g. macOS, musl).
    """
    global _applied
    if _applied is None:
        libc = _glibc()
        _applied = bool(
            libc is not None
            and libc.mallopt(M_MMAP_MAX, 0) == 1
            and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
        )
    return _applied
