"""The data pipeline's speed: corpus generation, cache preparation, and loading from the cache.

``pointnet-benchmark`` prints one line of it (``data_pipeline``: meshes/s to prepare, samples/s from the
cache, and the data share of a training epoch). ``python -m benchmarks.data`` prints the detailed
table, medians over ``--repeats`` runs:

- synthetic generation and mesh preparation (read + sample + cache) in meshes/s, 1 and N workers;
- opening a prepared split from its cache (manifest + checksum + memory map);
- ``PointCloudDataset`` items in samples/s and us/item (train with augmentation, eval without);
- ``DataLoader`` batches of 32 (``num_workers=0``) in batches/s, and that batch time as a share
  of a 1.5 s training step.

Usage: python -m benchmarks.data [--root DATA_SET] [--per-class 20] [--repeats 3]
Without ``--root`` it generates a synthetic corpus in a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from benchmarks.steps import build_model
from benchmarks.timing import median_seconds, seconds
from pointnet.data import Augmentation, PointCloudDataset, PointSet, generate_synthetic, load_split
from pointnet.data.synthetic.corpus import SYNTHETIC_CLASSES
from pointnet.training.batching import make_loader
from pointnet.training.epoch import Trainer
from pointnet.training.settings import TrainSettings

STEP_SECONDS = 1.5


# ---------------------------------------------------------------- the benchmark's data line

def loader_rate(dataset: PointCloudDataset, batch: int, min_seconds: float) -> float:
    """Samples/s the training loader draws, over whole epochs (at least 4 batches and ``min_seconds``)."""
    loader = make_loader(dataset, batch, train=True, seed=0)
    drawn, epochs = 0, 0
    start = time.perf_counter()
    while drawn < 4 * batch or time.perf_counter() - start < min_seconds:
        dataset.set_epoch(epochs)
        drawn += sum(len(labels) for _, labels in loader)
        epochs += 1
    return drawn / (time.perf_counter() - start)


def data_pipeline(args: argparse.Namespace, variant: str, log: Callable[[str], None]) -> dict:
    """Meshes/s to prepare, samples/s from the cache, and the data share of a training epoch of ``variant``.

    Works on a small procedural corpus in a temporary folder, so it needs no download; the default data
    set's preparation time is extrapolated from the rate.
    """
    per_class = args.data_per_class
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "synthetic", Path(tmp) / "cache"
        generate_seconds = seconds(lambda: generate_synthetic(root, train_per_class=per_class, test_per_class=1,
                                                              workers=args.data_workers, progress=False))
        meshes = len(SYNTHETIC_CLASSES) * (per_class + 1)
        holder: dict[str, PointSet] = {}
        prepare_seconds = seconds(lambda: holder.update(
            train=load_split("meshes", root, "train", cache_dir=cache, workers=args.data_workers, progress=False)))
        prepared = len(holder["train"])
        cached_seconds = seconds(lambda: holder.update(
            train=load_split("meshes", root, "train", cache_dir=cache, progress=False)))
        dataset = PointCloudDataset(holder["train"], args.points, train=True, augment=Augmentation(), seed=0)
        rate = loader_rate(dataset, args.batch_size, args.data_seconds)
        log("data: timing one training epoch")
        model = build_model(variant, "fast")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        stats = Trainer(model, optimizer, TrainSettings(), torch.device("cpu")).epoch(
            make_loader(dataset, args.batch_size, train=True, seed=0))
    default_meshes = len(SYNTHETIC_CLASSES) * (40 + 15)
    return {
        "meshes_generated": meshes, "generate_meshes_per_s": meshes / generate_seconds,
        "prepared_meshes": prepared, "prepare_meshes_per_s": prepared / prepare_seconds,
        "cached_reload_s": cached_seconds,
        "default_set_meshes": default_meshes,
        "default_set_generate_s_estimate": default_meshes / (meshes / generate_seconds),
        "default_set_prepare_s_estimate": default_meshes / (prepared / prepare_seconds),
        "loader_samples_per_s": rate,
        "epoch_samples": stats.samples, "epoch_seconds": stats.seconds, "epoch_data_share": stats.data_share,
        "epoch_model": f"{variant}/fast",
    }


def data_lines(data: dict) -> str:
    if "skipped" in data:
        return f"data pipeline: skipped ({data['skipped']})"
    return (f"data pipeline: generate {data['generate_meshes_per_s']:.1f} meshes/s, prepare (sample + cache) "
            f"{data['prepare_meshes_per_s']:.1f} meshes/s -> default synthetic set ({data['default_set_meshes']} "
            f"meshes) ~{data['default_set_generate_s_estimate']:.0f} s to generate + "
            f"~{data['default_set_prepare_s_estimate']:.0f} s to prepare; "
            f"cached reload {data['cached_reload_s']:.2f} s; "
            f"loader {data['loader_samples_per_s']:.0f} samples/s; data share of a training epoch "
            f"({data['epoch_model']}, {data['epoch_samples']} samples, {data['epoch_seconds']:.1f} s): "
            f"{100 * data['epoch_data_share']:.1f}%")


# ---------------------------------------------------------------- python -m benchmarks.data

def generation_row(args: argparse.Namespace, root: Path) -> tuple[str, str, str]:
    count = 0

    def generate() -> None:
        nonlocal count
        shutil.rmtree(root, ignore_errors=True)
        generate_synthetic(root, train_per_class=args.per_class, test_per_class=0, workers=args.workers,
                           progress=False)
        count = sum(1 for _ in root.rglob("*.off"))

    took = median_seconds(generate, args.repeats)
    return ("synthetic generation", f"{count / took:8.1f} meshes/s",
            f"{count} meshes in {took:.2f} s, {args.workers} workers")


def preparation_rows(args: argparse.Namespace, root: Path, scratch: Path) -> tuple[list, PointSet]:
    """Preparing the split with 1 and N workers into fresh caches, then reopening a prepared one."""
    def prepare(workers: int, cache: Path | None = None) -> PointSet:
        return load_split("meshes", root, "train", dense_points=args.dense_points, normals=True,
                          cache_dir=cache or Path(tempfile.mkdtemp(dir=scratch)), workers=workers, progress=False)

    prepared = prepare(args.workers, scratch / "cache")
    meshes = len(prepared) + len(prepared.skipped)
    rows = []
    for workers in sorted({1, args.workers}):
        took = median_seconds(partial(prepare, workers), args.repeats)
        rows.append((f"prepare ({workers} worker{'s' * (workers > 1)})", f"{meshes / took:8.1f} meshes/s",
                     f"{meshes} meshes x {args.dense_points} points+normals in {took:.2f} s"))
    took = median_seconds(lambda: prepare(args.workers, scratch / "cache"), args.repeats)
    rows.append(("open cached split", f"{took * 1e3:8.1f} ms",
                 f"{prepared.points.nbytes / 2**20:.1f} MiB, checksums verified, memory-mapped"))
    return rows, prepared


def draw_items(dataset: PointCloudDataset, count: int) -> None:
    for i in range(count):
        dataset[i % len(dataset)]


def item_rows(args: argparse.Namespace, point_set: PointSet) -> list[tuple[str, str, str]]:
    rows = []
    for label, dataset in (
        ("item, train + augment", PointCloudDataset(point_set, args.num_points, train=True, augment=Augmentation())),
        ("item, train, no augment", PointCloudDataset(point_set, args.num_points, train=True)),
        ("item, eval", PointCloudDataset(point_set, args.num_points, train=False)),
    ):
        took = median_seconds(partial(draw_items, dataset, args.items), args.repeats)
        rows.append((label, f"{args.items / took:8.0f} samples/s", f"{took / args.items * 1e6:.1f} us/item"))
    loader = DataLoader(PointCloudDataset(point_set, args.num_points, train=True, augment=Augmentation()),
                        batch_size=32, shuffle=True, num_workers=0)
    took = median_seconds(lambda: list(loader), args.repeats) / len(loader)
    rows.append(("DataLoader batch 32", f"{1 / took:8.1f} batches/s",
                 f"{took * 1e3:.2f} ms/batch = {100 * took / STEP_SECONDS:.2f}% of a {STEP_SECONDS} s step"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="a ModelNet-layout data set (default: a fresh synthetic one)")
    parser.add_argument("--per-class", type=int, default=20, help="synthetic train meshes per class")
    parser.add_argument("--dense-points", type=int, default=2048)
    parser.add_argument("--num-points", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=2000, help="dataset items timed per repeat")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        root = args.root or scratch / "synthetic"
        rows = [] if args.root else [generation_row(args, root)]
        prepared, point_set = preparation_rows(args, root, scratch)
        rows += prepared + item_rows(args, point_set)
    width = max(len(row[0]) for row in rows)
    print(f"data pipeline, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} CPUs, "
          f"medians of {args.repeats}")
    for name, rate, detail in rows:
        print(f"{name:<{width}}  {rate:>22}  {detail}")


if __name__ == "__main__":
    main()
