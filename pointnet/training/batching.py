"""Batches that can be resumed mid-epoch and sharded across processes.

The order of an epoch is a pure function of ``(seed, epoch)`` (``DistributedSampler``'s seeded
permutation), so an interrupted epoch restarts exactly where it stopped by skipping the batches
already done; with ``num_replicas > 1`` each rank gets a disjoint shard: rank ``r`` takes positions
``r, r + K, r + 2K, ...`` of that permutation, so batch ``j`` of the K ranks together (per-rank batch
``B / K``) is batch ``j`` of one process with batch ``B``.

Training pads the permutation with its first few items so every rank runs the same number of
steps (DistributedDataParallel needs that). Evaluation uses ``exact=True``: no padding, every
shape in exactly one shard (shards may differ in size by one), so summing the ranks' counts gives
the single-process result.
"""
from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import cast

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from pointnet.errors import ConfigError

BATCH_SCOPES = ("global", "per_rank")


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of indices for one epoch; ``set_epoch`` picks the order, ``skip`` drops done batches."""

    def __init__(self, dataset: Dataset, batch_size: int, *, shuffle: bool, drop_last: bool, seed: int,
                 num_replicas: int = 1, rank: int = 0, exact: bool = False) -> None:
        """``exact``: leave out the padding, so the shards partition the data set (for evaluation)."""
        self.sampler: DistributedSampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank,
                                                              shuffle=shuffle, seed=seed, drop_last=False)
        size = len(cast(Sized, dataset))  # a map-style data set (torch's Dataset does not declare __len__)
        self.shard_size = len(range(rank, size, num_replicas)) if exact else len(self.sampler)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.skipped = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Order the epoch ``epoch`` and leave out its first ``skip`` batches."""
        self.sampler.set_epoch(epoch)
        self.skipped = skip

    def _batches(self) -> Iterator[list[int]]:
        indices = list(self.sampler)[: self.shard_size]  # padding comes last in each shard
        stop = len(indices) - len(indices) % self.batch_size if self.drop_last else len(indices)
        for start in range(0, stop, self.batch_size):
            yield indices[start : start + self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self._batches()):
            if i >= self.skipped:
                yield batch

    def __len__(self) -> int:
        n = self.shard_size
        full = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return max(full - self.skipped, 0)


def make_loader(dataset, batch_size: int, *, train: bool, seed: int, num_workers: int = 0, **shard) -> DataLoader:
    """Batches in an order fixed by ``(seed, epoch)``; drop the last partial batch only for training.

    ``shard``: ``num_replicas`` and ``rank`` of a distributed run; evaluation shards are exact (unpadded).

    The loader gets its own generator: a DataLoader iterator otherwise draws its base seed from the
    global torch RNG, and a run resumed mid-epoch would then see other dropout masks.
    """
    sampler = EpochBatchSampler(dataset, batch_size, shuffle=train, drop_last=train, seed=seed, exact=not train,
                                **shard)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed))


def epoch_sampler(batches: object) -> EpochBatchSampler:
    """The ``EpochBatchSampler`` behind ``batches``: a ``make_loader`` loader or a ``DeviceBatches``."""
    sampler = getattr(batches, "batch_sampler", None)
    if not isinstance(sampler, EpochBatchSampler):
        raise TypeError(f"{type(batches).__name__} does not draw its batches from an EpochBatchSampler")
    return sampler


def split_batch(batch_size: int, world_size: int, scope: str) -> tuple[int, int]:
    """``(per-rank batch, global batch)`` for ``train.batch_size`` under ``world_size`` ranks.

    ``scope="global"``: ``batch_size`` is the global batch, split evenly over the ranks (refused when
    it does not divide); ``"per_rank"``: every rank takes ``batch_size``. A per-rank batch below 2
    is refused: BatchNorm cannot train on a single sample.
    """
    if scope == "per_rank":
        per_rank = batch_size
    elif batch_size % world_size:
        raise ConfigError("train.batch_size", f"the global batch {batch_size} does not split evenly over "
                          f"{world_size} ranks; use a multiple of {world_size}, or "
                          "train.distributed.batch_scope=per_rank")
    else:
        per_rank = batch_size // world_size
    if per_rank < 2:
        raise ConfigError("train.batch_size", f"{world_size} ranks leave {per_rank} sample per rank; BatchNorm "
                          "needs >= 2 (raise train.batch_size or use train.distributed.batch_scope=per_rank)")
    return per_rank, per_rank * world_size
