"""The up-axis decision on real data: ModelNet40 (z up), the Labeled PSB (y up) and the procedural set (z up).

The real sets come from ``../shared/data`` (outside the project; see their READMEs there) and are unpacked
once per session into a temporary folder; without them these tests are skipped.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from pointnet.data import generate_synthetic
from pointnet.data.datasets.load import load_data
from pointnet.data.readers.up_axis import decide_up_axis
from pointnet.data.settings import DataSettings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELNET40 = SHARED / "modelnet40_train.tar.gz"
PSB = SHARED / "labeled_psb.tar.gz"
MODELNET40_PER_CLASS = 25  # of 64 to 889 a class: 1,000 shapes decide as the 9,843 do (z), in seconds


def unpack(archive: Path, into: Path, keep=lambda name: True) -> Path:
    """Stream ``archive`` into ``into``, keeping the members ``keep(name)`` accepts; the top folder."""
    if not archive.is_file():
        pytest.skip(f"{archive} is not here")
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if member.isdir() or (member.isfile() and keep(member.name)):
                tar.extract(member, into, filter="data")
    return into / archive.name.removesuffix(".tar.gz")


def first_of_class(name: str) -> bool:
    """``modelnet40_train/<class>/<class>_<NNNN>.npy`` with ``NNNN`` at most ``MODELNET40_PER_CLASS``."""
    stem = Path(name).stem
    return name.endswith(".npy") and int(stem.rsplit("_", 1)[1]) <= MODELNET40_PER_CLASS


@pytest.fixture(scope="session")
def modelnet40(tmp_path_factory) -> Path:
    return unpack(MODELNET40, tmp_path_factory.mktemp("mn40"), first_of_class)


@pytest.fixture(scope="session")
def labeled_psb(tmp_path_factory) -> Path:
    return unpack(PSB, tmp_path_factory.mktemp("psb"))


def decide(fmt: str, root: Path, up_axis: str, tmp_path: Path, **kwargs):
    settings = DataSettings(format=fmt, root=str(root), up_axis=up_axis, cache_dir=str(tmp_path / "cache"), workers=1,
                            **kwargs)
    train, test = load_data(settings, progress=False)
    return decide_up_axis([train, test], up_axis)


@pytest.mark.parametrize("configured", ["z", "y"])
def test_modelnet40_is_z_up(modelnet40, tmp_path, configured):
    decision = decide("folder", modelnet40, configured, tmp_path, dense_points=1024)
    assert decision.axis == "z", decision.tally()
    assert decision.votes["z"] >= 20 and decision.margin >= 15, decision.tally()  # measured: 25-26 of 40, margin 23-24
    chair = next(c for c in decision.classes if c.name == "chair")
    assert (chair.axis, chair.strength) == ("z", "strong")


def test_the_labeled_psb_is_y_up(labeled_psb, tmp_path):
    decision = decide("meshes", labeled_psb, "z", tmp_path, dense_points=2048)  # sampling 380 meshes: ~20 s
    assert decision.axis == "y", decision.tally()
    assert decision.votes["y"] >= 8 and decision.margin >= 5, decision.tally()  # measured: 10 of 19, margin 8


def test_the_procedural_set_is_z_up(tmp_path):
    root = tmp_path / "synthetic"
    # the first 4 of each class and split of the default set (`pointnet-prepare data.max_per_class=4`)
    generate_synthetic(root, seed=0, train_per_class=4, test_per_class=4, workers=1, progress=False)
    decision = decide("meshes", root, "z", tmp_path, dense_points=2048)
    assert decision.axis == "z" and decision.votes["z"] == 13, decision.tally()
