"""Process settings: the malloc tuning is applied once and reports whether it is in force."""
import platform

import torch

from pointnet.runtime.malloc import tune_malloc
from pointnet.runtime.threads import set_threads


def test_tune_malloc_applies_on_glibc_and_is_idempotent():
    first = tune_malloc()
    assert first is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    assert tune_malloc() is first


def test_set_threads_returns_the_count_in_force():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
        assert set_threads(None) == 1
    finally:
        torch.set_num_threads(before)
