"""Batches that can be resumed mid-epoch and sharded across processes.

The order of an epoch is a pure function of ``(seed, epoch)`` (``DistributedSampler``'s seeded
permutation), so an interrupted epoch restarts exactly where it stopped by skipping the batches
already done; with ``num_replicas > 1`` each rank gets a disjoint shard.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of indices for one epoch; ``set_epoch`` picks the order, ``skip`` drops done batches."""

    def __init__(self, dataset: Dataset, batch_size: int, *, shuffle: bool, drop_last: bool, seed: int,
                 num_replicas: int = 1, rank: int = 0) -> None:
        self.sampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle,
                                          seed=seed, drop_last=False)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.skipped = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Order the epoch ``epoch`` and leave out its first ``skip`` batches."""
        self.sampler.set_epoch(epoch)
        self.skipped = skip

    def _batches(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        stop = len(indices) - len(indices) % self.batch_size if self.drop_last else len(indices)
        for start in range(0, stop, self.batch_size):
            yield indices[start : start + self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        for i, batch in enumerate(self._batches()):
            if i >= self.skipped:
                yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        full = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return max(full - self.skipped, 0)


def make_loader(dataset, batch_size: int, *, train: bool, seed: int, num_workers: int = 0, **shard) -> DataLoader:
    """Batches in an order fixed by ``(seed, epoch)``; drop the last partial batch only for training.

    The loader gets its own generator: a DataLoader iterator otherwise draws its base seed from the
    global torch RNG, and a run resumed mid-epoch would then see other dropout masks.
    """
    sampler = EpochBatchSampler(dataset, batch_size, shuffle=train, drop_last=train, seed=seed, **shard)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed))
