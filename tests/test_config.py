"""Config composition and validation: bad values are refused before work starts, naming the key."""
import pytest
from hydra.errors import ConfigCompositionException

from pointnet.apps.config import ConfigError, validate
from tests.helpers import compose


def test_defaults_follow_the_paper():
    cfg = compose()
    assert cfg.model.shared_mlp == "conv1d" and cfg.data.name == "synthetic"
    assert (cfg.train.lr, cfg.train.batch_size, cfg.data.num_points) == (1e-3, 32, 1024)
    assert (cfg.scheduler.name, cfg.scheduler.step_size, cfg.scheduler.gamma) == ("step", 20, 0.5)
    assert (cfg.train.bn_momentum.start, cfg.train.bn_momentum.minimum) == (0.5, 0.01)
    assert (cfg.model.dropout, cfg.train.reg_weight) == (0.3, 0.001)
    validate(cfg)


@pytest.mark.parametrize("variant", ["linear", "conv1d", "loop"])
def test_variant_group_selects_the_layer(variant):
    assert compose(overrides=[f"model/shared_mlp={variant}"]).model.shared_mlp == variant


@pytest.mark.parametrize("name,root", [("modelnet10", "data/ModelNet10"), ("modelnet40_h5", "data/modelnet40_ply_hdf5_2048")])
def test_data_group_and_paper_schedule_experiment(name, root):
    cfg = compose(overrides=[f"experiment={name}"])
    assert cfg.data.name == name and cfg.data.root == root and cfg.train.epochs == 250


@pytest.mark.parametrize(
    "override,key",
    [
        ("train.lr=-1", "train.lr"),
        ("data.num_points=0", "data.num_points"),
        ("train.batch_size=1", "train.batch_size"),
        ("data.max_per_class=0", "data.max_per_class"),
        ("optimizer.name=lamb", "optimizer.name"),
    ],
)
def test_bad_values_name_their_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        validate(compose(overrides=[override]))


def test_unknown_variant_lists_the_valid_ones():
    cfg = compose(overrides=["model.shared_mlp=conv2d"])
    with pytest.raises(ConfigError, match=r"model.shared_mlp: unknown value 'conv2d'.*'conv1d', 'linear', 'loop'"):
        validate(cfg)


def test_missing_data_folder_is_refused(tmp_path):
    cfg = compose(overrides=["data=modelnet10", f"data.root={tmp_path / 'nowhere'}"])
    with pytest.raises(ConfigError, match="data.root: no data set folder at .*nowhere"):
        validate(cfg)


def test_types_and_unknown_keys_are_refused_by_the_schema():
    with pytest.raises(ConfigCompositionException, match="train.epochs=many") as bad_type:
        compose(overrides=["train.epochs=many"])
    assert "could not be converted to Integer" in str(bad_type.value.__cause__)
    with pytest.raises(ConfigCompositionException, match="train.epoch=3") as unknown:
        compose(overrides=["train.epoch=3"])
    assert "Key 'epoch' not in 'TrainGroup'" in str(unknown.value.__cause__)
