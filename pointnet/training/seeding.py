"""Seeds: one for every generator a run uses, and each rank's own stream after the first."""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of rank ``rank`` > 0 from step ``step`` on (its dropout masks differ from rank 0's)."""
    return ((seed * 1_000_003 + rank) * 1_000_003 + step) & (2**63 - 1)
