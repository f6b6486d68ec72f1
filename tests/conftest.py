import os

import pytest
import torch

from tests.helpers import compose, tiny_overrides

os.environ.setdefault("TQDM_DISABLE", "1")
# one thread per pytest-xdist worker (scripts/test.sh runs two): two workers of two threads would oversubscribe
# the 2 cores; alone, two threads
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small procedural data set (few meshes per class), generated once per test session."""
    from pointnet.data import generate_synthetic

    root = tmp_path_factory.mktemp("tiny") / "synthetic"
    generate_synthetic(root, seed=0, train_per_class=4, test_per_class=2, progress=False)
    return root


@pytest.fixture(scope="session")
def trained_run(tiny_data, tmp_path_factory):
    """The run dir of one two-epoch conv1d training on the tiny data set (read-only for tests)."""
    from pointnet.apps.train import train

    out = tmp_path_factory.mktemp("outputs") / "day" / "run"
    out.mkdir(parents=True)
    train(compose(overrides=tiny_overrides(tiny_data)), run_dir=out)
    return out
