"""Training batches drawn where the model runs: the clouds stay on the device, one batch is a few ops.

The CPU pipeline (``PointCloudDataset`` + ``DataLoader``) draws each cloud's points and augments it
on the host, sample by sample, then copies the batch over: on a GPU that host work was 27-29% of
an epoch. ``DeviceBatches`` keeps every dense training cloud on the device once and, per batch,
draws a uniformly random ``num_points`` subset in random order for every cloud (``argsort`` of
uniform keys), gathers it and augments the batch (``pointnet.data.pipeline.augment.augment_batch``). The batch order
is ``EpochBatchSampler``'s (same shards, same resume by skipping done batches); each batch's draws
come from a generator seeded by ``(seed, epoch, batch)``, so a resumed epoch sees the same batches.
The same augmentation code as the CPU pipeline, which augments each cloud as a batch of one; other
random numbers (one generator per batch, not per cloud), the same law.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from pointnet.data.pipeline.augment import augment_batch
from pointnet.data.pipeline.cloud_dataset import PointCloudDataset, splitmix64
from pointnet.training.batching import EpochBatchSampler, make_loader
from pointnet.training.precision import precision
from pointnet.training.settings import TrainSettings


class DeviceBatches:
    """Iterable of ``(points (B, N, C), labels (B,))`` on ``device`` for one epoch at a time.

    ``dataset``: the training ``PointCloudDataset`` (its point set, ``num_points``, augmentation and
    seed are used; its own per-item draws are not). ``num_replicas``/``rank`` shard as ``make_loader``.
    """

    def __init__(self, dataset: PointCloudDataset, batch_size: int, device: torch.device, *,
                 dtype: torch.dtype = torch.float32, num_replicas: int = 1, rank: int = 0) -> None:
        dense = np.asarray(dataset.point_set.points)[:, :, : dataset.channels]
        self.points = torch.as_tensor(dense, dtype=dtype).to(device)  # (M, P, C), stays on the device
        self.labels = torch.as_tensor(np.asarray(dataset.point_set.labels), dtype=torch.int64).to(device)
        self.counts = torch.as_tensor(np.asarray(dataset.point_set.counts), dtype=torch.int64).to(device)  # (M,)
        self.fewest = int(np.asarray(dataset.point_set.counts).min(initial=self.points.shape[1]))
        self.num_points, self.augment, self.seed = dataset.num_points, dataset.augment, dataset.seed
        self.device = torch.device(device)
        self.batch_sampler = EpochBatchSampler(dataset, batch_size, shuffle=True, drop_last=True, seed=self.seed,
                                               num_replicas=num_replicas, rank=rank)
        self.generator = torch.Generator(device=self.device)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, skipped = self.batch_sampler.sampler.epoch, self.batch_sampler.skipped
        for i, indices in enumerate(self.batch_sampler):
            yield self.draw(torch.as_tensor(indices, device=self.device), epoch, skipped + i)

    def choose(self, counts: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` rows: a uniform subset in uniform order of each shape's own ``counts (B,)`` points
        (``argsort`` of uniform keys, rows past a count sorted last); a shape with fewer than ``N``
        points then repeats random ones of its own to fill, as ``PointCloudDataset`` does."""
        rows = torch.arange(self.points.shape[1], device=self.device)
        keys = torch.rand(len(counts), len(rows), generator=self.generator, device=self.device)
        keys = keys.masked_fill(rows >= counts[:, None], 2.0)
        choice = keys.argsort(dim=1)[:, : self.num_points]  # (B, min(N, P))
        if self.fewest >= self.num_points:  # every shape has the points: no fill (num_points may change per epoch)
            return choice
        fill = torch.rand(len(counts), self.num_points, generator=self.generator, device=self.device)
        fill = (fill * counts[:, None]).long()  # (B, N): uniform among each shape's own points
        slots = torch.arange(self.num_points, device=self.device)
        padded = torch.nn.functional.pad(choice, (0, self.num_points - choice.shape[1]))
        return torch.where(slots < counts[:, None], padded, fill)

    def draw(self, indices: torch.Tensor, epoch: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of clouds ``indices (B,)``: subsets ``(B, N, C)`` and labels ``(B,)``."""
        key = 0
        for word in (self.seed, epoch, batch):
            key = splitmix64(key ^ word)
        self.generator.manual_seed(key)
        points = self.points[indices[:, None], self.choose(self.counts[indices])]  # (B, N, C)
        if self.augment is not None:
            points = augment_batch(points, self.augment, self.generator)
        return points, self.labels[indices]


def use_device_batches(setting: bool | None, device: torch.device, num_workers: int) -> bool:
    """``train.device_data``: true / false, or null for "on a GPU, when no loader workers are asked for"."""
    if setting is not None:
        return bool(setting)
    return device.type == "cuda" and num_workers == 0


def training_batches(dataset: PointCloudDataset, batch_size: int, device: torch.device, settings: TrainSettings,
                     seed: int, num_replicas: int = 1, rank: int = 0) -> DeviceBatches | DataLoader:
    """The training batches of a run: drawn on the device (``train.device_data``) or by the CPU loader."""
    if use_device_batches(settings.device_data, device, settings.num_workers):  # clouds stay on the device
        return DeviceBatches(dataset, batch_size, device, dtype=precision(settings.precision).parameters,
                             num_replicas=num_replicas, rank=rank)
    return make_loader(dataset, batch_size, train=True, seed=seed, num_workers=settings.num_workers,
                       num_replicas=num_replicas, rank=rank)


def set_points(dataset: PointCloudDataset, batches: DeviceBatches | DataLoader, points: int) -> None:
    """Points per training cloud from now on, for the dataset and the device batches drawn from it:
    ``train.early_points`` in the first epochs (progressive resizing: cheaper steps while the network learns
    coarse shape), then ``data.num_points``."""
    dataset.num_points = points
    if isinstance(batches, DeviceBatches):
        batches.num_points = points
