"""Checkpoint files: checksum, one-line reasons for damaged or foreign files, variant-agnostic optimiser state."""
import copy
import random

import pytest
import torch

from pointnet import PointNet
from pointnet.training.checkpoint import CheckpointError, checksum, load_checkpoint, load_weights, save_checkpoint
from pointnet.training.state import config_differences, match_moment_shapes


def sample_state():
    return {"model": {"w": torch.arange(4096, dtype=torch.float32), "b": torch.ones(3)},
            "progress": {"epoch": 1, "best_val": [0.5, -1.25], "history": [{"train/loss": 2.0}]},
            "config": {"seed": 0, "train": {"lr": 1e-3}}}


def test_checksum_is_stored_and_round_trips(tmp_path):
    path = save_checkpoint(sample_state(), tmp_path / "last.pt")
    state = load_checkpoint(path)
    assert state["format_version"] == 2 and state["checksum"] == checksum(state)
    assert torch.equal(state["model"]["w"], sample_state()["model"]["w"])


def test_a_flipped_bit_in_the_weights_is_refused_naming_the_file(tmp_path):
    path = save_checkpoint(sample_state(), tmp_path / "last.pt")
    raw = bytearray(path.read_bytes())
    at = raw.find(torch.arange(4096, dtype=torch.float32)[1000:1010].numpy().tobytes())
    assert at > 0
    raw[at + 3] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum mismatch") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_no_random_bit_flip_loads_different_content(tmp_path):
    """Anywhere in the file: refused with a reason, or (padding, redundant headers) the very same content."""
    good = save_checkpoint(sample_state(), tmp_path / "good.pt")
    reference = load_checkpoint(good)["checksum"]
    raw, rng, refused = good.read_bytes(), random.Random(0), 0
    for trial in range(60):
        flipped = bytearray(raw)
        flipped[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{trial}.pt"
        path.write_bytes(bytes(flipped))
        try:
            state = load_checkpoint(path)
        except CheckpointError as exc:
            refused += 1
            assert str(path) in str(exc) and exc.reason and "\n" not in str(exc)
            continue
        assert checksum(state) == reference == state["checksum"]
    assert refused > 30


@pytest.mark.parametrize("cut, reason", [(0, "empty \\(0 bytes\\)"), (0.5, "truncated"), (0.99, "truncated")])
def test_truncated_and_empty_files_get_one_line(tmp_path, cut, reason):
    path = save_checkpoint(sample_state(), tmp_path / "last.pt")
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(CheckpointError, match=reason) as err:
        load_checkpoint(path)
    assert isinstance(err.value, ValueError) and str(path) in str(err.value) and "\n" not in str(err.value)


class Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_hostile_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": Hostile(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refused") as err:
        load_checkpoint(path)
    assert not marker.exists() and str(path) in str(err.value) and "\n" not in str(err.value)


def test_format_1_checkpoints_without_checksum_still_load(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format_version": 1, **sample_state()}, path)
    assert load_checkpoint(path)["progress"]["epoch"] == 1


def test_missing_file_and_foreign_dict(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="a folder.*last.pt"):
        load_checkpoint(tmp_path)
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_weights_of_another_shape_name_the_file_and_the_tensor(tmp_path):
    weights = PointNet(5).state_dict()
    with pytest.raises(CheckpointError, match="head|size mismatch") as err:
        load_weights(PointNet(7), weights, tmp_path / "x.pt")
    assert "x.pt" in str(err.value) and "\n" not in str(err.value)


def test_config_differences_name_each_key():
    saved = {"train": {"lr": 1e-3, "epochs": 2}, "model": {"shared_mlp": "conv1d"}, "seed": 0}
    now = {"train": {"lr": 2e-3, "epochs": 5, "new_key": 1}, "model": {"shared_mlp": "linear"}, "seed": 1}
    assert config_differences(saved, now, ("train.epochs", "model.shared_mlp")) == [
        "seed: 0 -> 1", "train.lr: 0.001 -> 0.002"]


def adam_step(model, optimizer, points, labels):
    optimizer.zero_grad()
    logits, _ = model(points)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    optimizer.step()


@pytest.mark.parametrize("source, target", [("conv1d", "linear"), ("linear", "conv1d"), ("conv1d", "loop")])
def test_adam_moments_follow_the_weights_into_another_variant(source, target):
    torch.manual_seed(0)
    points, labels = torch.randn(6, 32, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    a = PointNet(3, shared_mlp=source, dropout=0.0).double()
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    adam_step(a, opt_a, points, labels)
    b = PointNet(3, shared_mlp=target, dropout=0.0).double()
    b.load_state_dict(a.state_dict())
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as read from a file: no shared tensors
    match_moment_shapes(opt_b)
    for group in opt_b.param_groups:
        for p in group["params"]:
            assert opt_b.state[p]["exp_avg"].shape == p.shape
    adam_step(a, opt_a, points, labels)
    adam_step(b, opt_b, points, labels)
    sa, sb = a.state_dict(), b.state_dict()
    assert max(float((sa[k] - sb[k]).abs().max()) for k in sa if sa[k].is_floating_point()) < 1e-8  # Adam divides by sqrt(v)
