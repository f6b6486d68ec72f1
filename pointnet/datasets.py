"""The three splits a run uses: train, validation (held out of train) and test, as torch datasets.

Validation is a stratified, seeded part of the train split, so the test set never selects the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointnet.data import Augmentation, PointCloudDataset, PointSet, generate_synthetic, load_split


@dataclass
class Splits:
    train: PointCloudDataset
    val: PointCloudDataset | None
    test: PointCloudDataset
    classes: list[str]


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)``: ``round(fraction * n_c)`` shapes of each class ``c`` held out.

    A class with at least two shapes gives at least one when ``fraction > 0``; one with a single
    shape keeps it for training.
    """
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = int(round(fraction * len(members)))
        if fraction > 0 and len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held.extend(rng.permutation(members)[:count].tolist())
    held_out = np.sort(np.array(held, dtype=np.int64))
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out


def ensure_data(root: str | Path, generate: bool, seed: int, train_per_class: int, test_per_class: int,
                workers: int = 2) -> Path:
    """The data set folder; the procedural set is generated there first when ``generate`` is set."""
    root = Path(root)
    if generate:
        generate_synthetic(root, seed=seed, train_per_class=train_per_class, test_per_class=test_per_class,
                           workers=workers)
    return root


def load_point_sets(fmt: str, root: Path, **kwargs) -> tuple[PointSet, PointSet]:
    """Prepare (or read from cache) the train and test point sets, test in train's class order."""
    train = load_split(fmt, root, "train", **kwargs)
    test = load_split(fmt, root, "test", **{**kwargs, "classes": train.classes})
    return train, test


def build_splits(train_set: PointSet, test_set: PointSet, *, num_points: int, val_fraction: float,
                 augment: Augmentation, seed: int) -> Splits:
    """Wrap point sets as datasets: augmented per-epoch draws for train, fixed draws elsewhere."""
    kept, held_out = stratified_holdout(train_set.labels, val_fraction, seed)
    train = PointCloudDataset(train_set.subset(kept), num_points, train=True, augment=augment, seed=seed)
    val = (PointCloudDataset(train_set.subset(held_out), num_points, train=False, seed=seed)
           if len(held_out) else None)
    test = PointCloudDataset(test_set, num_points, train=False, seed=seed)
    return Splits(train, val, test, train_set.classes)
