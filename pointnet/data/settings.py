"""A data set's settings as plain dataclasses, owned by the data layer: the ``data`` group of every app's config.

The apps' schema (``pointnet.apps.schema``) is built from these classes, so a YAML key and the field the
data code reads are one definition, and one ``DataSettings`` travels down (``load_data``, ``build_splits``)
instead of a dozen keyword arguments. Each field's role (``pointnet.roles``) says what it does to a run.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from pointnet.data.pipeline.augment import Augmentation, AugmentStrengths
from pointnet.data.readers.sampling import z_up_axes
from pointnet.roles import PLACE_ROLE, SPEED_ROLE


@dataclass
class AugmentSettings(AugmentStrengths):
    """``data.augment``: the training augmentation's keys (see ``Augmentation`` for what each does); the scale's
    range and the mirror's axes as a config writes them."""

    scale_low: float = 0.8
    scale_high: float = 1.25
    mirror: str = ""  # axes in the data's own coordinates (e.g. "x", "xz"), each negated with probability 1/2

    def augmentation(self, up_axis: str) -> Augmentation:
        """These keys as the pipeline's ``Augmentation``, the mirror's axes named in the z-up frame."""
        shared = {f.name: getattr(self, f.name) for f in fields(AugmentStrengths)}
        return Augmentation(**shared, scale=(self.scale_low, self.scale_high), mirror=z_up_axes(self.mirror, up_axis))


@dataclass
class SyntheticSettings:
    """``data.synthetic``: the procedural set generated when ``data.generate`` is set."""

    seed: int = 0
    train_per_class: int = 40
    test_per_class: int = 15


@dataclass
class DataSettings:
    """``data``: where a data set is, how it is read and cached, and how its clouds are drawn and augmented."""

    name: str = "synthetic"
    format: str = "meshes"
    root: str = field(default="data/synthetic", metadata=PLACE_ROLE)
    num_points: int = 1024
    dense_points: int = 2048
    normals: bool = False
    up_axis: str = "z"
    resampled_lists: str = "modelnet40"  # format=resampled: which <name>_{train,test}.txt lists
    test_fraction: float = 0.2  # format=folder, classes without split folders: share of files hashed to test
    split_seed: int = 0  # format=folder: seeds that hash
    max_per_class: int | None = None
    val_fraction: float = 0.1
    cache_dir: str | None = field(default=None, metadata=PLACE_ROLE)
    workers: int = field(default=2, metadata=SPEED_ROLE)
    generate: bool = field(default=False, metadata=PLACE_ROLE)  # make the synthetic set at root if absent
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)

    def split_options(self) -> dict[str, Any]:
        """``load_split``'s keyword arguments for this data set (besides ``classes`` and ``progress``)."""
        return {"dense_points": self.dense_points, "normals": self.normals, "up_axis": self.up_axis,
                "cache_dir": self.cache_dir, "max_per_class": self.max_per_class, "workers": self.workers,
                "resampled_lists": self.resampled_lists, "test_fraction": self.test_fraction,
                "split_seed": self.split_seed}

    def augmentation(self) -> Augmentation:
        return self.augment.augmentation(self.up_axis)
