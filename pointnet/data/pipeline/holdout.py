"""The three splits a run uses: train, validation (held out of train) and test, as torch datasets.

Validation is a stratified, seeded part of the train split, so the test set never selects the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pointnet.data.pipeline.cloud_dataset import PointCloudDataset, warn_short_shapes
from pointnet.data.pointset import PointSet
from pointnet.data.settings import DataSettings


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


def split_train(train_set: PointSet, val_fraction: float, seed: int) -> tuple[PointSet, PointSet | None]:
    """The data set's train split as a run uses it: ``(shapes trained on, validation shapes or None)``, the
    validation shapes ``stratified_holdout(labels, val_fraction, seed)`` (``seed`` is the run's ``seed``)."""
    kept, held_out = stratified_holdout(train_set.labels, val_fraction, seed)
    return train_set.subset(kept), (train_set.subset(held_out) if len(held_out) else None)


SPLIT_NAMES = ("train", "val", "test")


def point_set_of(split: str, train_set: PointSet, test_set: PointSet, val_fraction: float, seed: int) -> PointSet:
    """One of ``SPLIT_NAMES`` exactly as a run with ``val_fraction`` and ``seed`` split its data: ``train`` the
    shapes it trained on, ``val`` those it validated (and chose ``best.pt``) on, ``test`` the test split.

    Raises ``ValueError`` for ``val`` when the run held out no shapes (``val_fraction`` 0).
    """
    if split == "test":
        return test_set
    trained, validated = split_train(train_set, val_fraction, seed)
    if split == "train":
        return trained
    if split != "val":
        raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
    if validated is None:
        raise ValueError(f"the run held out no validation shapes (data.val_fraction={val_fraction})")
    return validated


def build_splits(train_set: PointSet, test_set: PointSet, settings: DataSettings, seed: int) -> Splits:
    """Wrap point sets as datasets: augmented per-epoch draws for train, fixed draws elsewhere.

    ``settings``: the clouds' ``num_points``, the validation share held out of train (``val_fraction``), the
    augmentation, and whether items are ``(num_points, 6)`` xyz + normals (the point sets must hold them).
    """
    num_points, normals, augment = settings.num_points, settings.normals, settings.augmentation()
    val_fraction = settings.val_fraction
    warn_short_shapes([train_set, test_set], num_points)
    trained, validated = split_train(train_set, val_fraction, seed)
    train = PointCloudDataset(trained, num_points, train=True, augment=augment, seed=seed, normals=normals)
    val = (PointCloudDataset(validated, num_points, train=False, seed=seed, normals=normals)
           if validated is not None else None)
    test = PointCloudDataset(test_set, num_points, train=False, seed=seed, normals=normals)
    return Splits(train, val, test, train_set.classes)
