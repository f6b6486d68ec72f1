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


def compose(config_name: str = "train", overrides: list[str] | None = None):
    """Compose a project config the way the console scripts do, with ``overrides``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from pointnet.config import register_configs

    register_configs()
    with initialize_config_module(config_module="pointnet.configs", version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides or [])


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small procedural data set (few meshes per class), generated once per test session."""
    from pointnet.data import generate_synthetic

    root = tmp_path_factory.mktemp("tiny") / "synthetic"
    generate_synthetic(root, seed=0, train_per_class=4, test_per_class=2, progress=False)
    return root


def tiny_overrides(root, *extra: str) -> list[str]:
    """A training run of a few seconds: few points, tiny batches, two epochs."""
    return [
        f"data.root={root}",
        "data.generate=false",
        "data.num_points=32",
        "data.dense_points=64",
        "data.val_fraction=0.25",
        "data.workers=1",
        "train.epochs=2",
        "train.batch_size=4",
        "train.log_every=1",
        "train.num_clouds=2",
        "train.threads=1",
        *extra,
    ]


@pytest.fixture(scope="session")
def trained_run(tiny_data, tmp_path_factory):
    """The run dir of one two-epoch conv1d training on the tiny data set (read-only for tests)."""
    from pointnet.train import train

    out = tmp_path_factory.mktemp("outputs") / "day" / "run"
    out.mkdir(parents=True)
    train(compose(overrides=tiny_overrides(tiny_data)), run_dir=out)
    return out
