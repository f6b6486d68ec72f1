import os

import pytest
import torch

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

VARIANTS = ("linear", "conv1d", "loop")
VARIANT_PAIRS = [(a, b) for i, a in enumerate(VARIANTS) for b in VARIANTS[i + 1 :]]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
