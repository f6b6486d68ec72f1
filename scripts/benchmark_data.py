"""Measure the data pipeline: corpus generation, cache preparation, and loading from the cache.

Prints one table of medians over ``--repeats`` runs:

- synthetic generation and mesh preparation (read + sample + cache) in meshes/s, 1 and N workers;
- opening a prepared split from its cache (manifest + checksum + memory map);
- ``PointCloudDataset`` items in samples/s and us/item (train with augmentation, eval without);
- ``DataLoader`` batches of 32 (``num_workers=0``) in batches/s, and that batch time as a share
  of a 1.5 s training step.

Usage: python scripts/benchmark_data.py [--root DATA_SET] [--per-class 20] [--repeats 3]
Without ``--root`` it generates a synthetic corpus in a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from pointnet.data import Augmentation, PointCloudDataset, generate_synthetic, load_split  # noqa: E402

STEP_SECONDS = 1.5


def median_time(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``run()`` in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="a ModelNet-layout data set (default: a fresh synthetic one)")
    parser.add_argument("--per-class", type=int, default=20, help="synthetic train meshes per class")
    parser.add_argument("--dense-points", type=int, default=2048)
    parser.add_argument("--num-points", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=2000, help="dataset items timed per repeat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        root = args.root
        if root is None:
            root = scratch / "synthetic"
            count = 0

            def generate() -> None:
                nonlocal count
                shutil.rmtree(root, ignore_errors=True)
                generate_synthetic(root, train_per_class=args.per_class, test_per_class=0,
                                   workers=args.workers, progress=False)
                count = sum(1 for _ in root.rglob("*.off"))

            seconds = median_time(generate, args.repeats)
            rows.append(("synthetic generation", f"{count / seconds:8.1f} meshes/s",
                         f"{count} meshes in {seconds:.2f} s, {args.workers} workers"))

        def prepare(workers: int) -> Callable[[], object]:
            def run():
                cache = Path(tempfile.mkdtemp(dir=scratch))
                return load_split("meshes", root, "train", dense_points=args.dense_points, normals=True,
                                  cache_dir=cache, workers=workers, progress=False)
            return run

        prepared = prepare(args.workers)()
        meshes = len(prepared) + len(prepared.skipped)
        for workers in sorted({1, args.workers}):
            seconds = median_time(prepare(workers), args.repeats)
            rows.append((f"prepare ({workers} worker{'s' * (workers > 1)})", f"{meshes / seconds:8.1f} meshes/s",
                         f"{meshes} meshes x {args.dense_points} points+normals in {seconds:.2f} s"))
        cache_dir = scratch / "cache"
        load = lambda: load_split("meshes", root, "train", dense_points=args.dense_points, normals=True,  # noqa: E731
                                  cache_dir=cache_dir, progress=False)
        point_set = load()
        seconds = median_time(load, args.repeats)
        rows.append(("open cached split", f"{seconds * 1e3:8.1f} ms", f"{point_set.points.nbytes / 2**20:.1f} MiB, "
                     "checksums verified, memory-mapped"))

        for label, dataset in (
            ("item, train + augment", PointCloudDataset(point_set, args.num_points, train=True,
                                                         augment=Augmentation())),
            ("item, train, no augment", PointCloudDataset(point_set, args.num_points, train=True)),
            ("item, eval", PointCloudDataset(point_set, args.num_points, train=False)),
        ):
            n = len(dataset)
            seconds = median_time(lambda: [dataset[i % n] for i in range(args.items)], args.repeats)
            rows.append((label, f"{args.items / seconds:8.0f} samples/s", f"{seconds / args.items * 1e6:.1f} us/item"))

        dataset = PointCloudDataset(point_set, args.num_points, train=True, augment=Augmentation())
        loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=0)
        batches = len(loader)
        seconds = median_time(lambda: [batch for batch in loader], args.repeats)
        per_batch = seconds / batches
        rows.append(("DataLoader batch 32", f"{batches / seconds:8.1f} batches/s",
                     f"{per_batch * 1e3:.2f} ms/batch = {100 * per_batch / STEP_SECONDS:.2f}% of a "
                     f"{STEP_SECONDS} s step"))

    width = max(len(row[0]) for row in rows)
    print(f"data pipeline, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} CPUs, "
          f"medians of {args.repeats}")
    for name, rate, detail in rows:
        print(f"{name:<{width}}  {rate:>22}  {detail}")


if __name__ == "__main__":
    main()
