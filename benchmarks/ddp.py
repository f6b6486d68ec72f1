"""DistributedDataParallel against one process, in two tables.

- ``ddp_scaling`` (the device section's rows): 1..all GPUs, ``batch_scope=per_rank`` (each rank its own
  batch); scaling efficiency is global samples/s over ``world_size`` x the 1-rank rate.
- ``python -m benchmarks.ddp``: on a CPU, one process against DDP over two (gloo) at the same global
  batch, split over the ranks: 1 process x 1 thread, 1 process x 2 threads, 2 processes x 1 thread (the
  last two use the same cores), with the gradient all-reduce timed on its own.

Every run starts its ranks afresh (spawned processes, a free local port), trains the default model
through ``pointnet.training.distributed`` and ``Trainer.epoch`` on random clouds already on the rank's
device (data loading is left out), and rank 0 reports each step's wall time.

    .venv/bin/python -m benchmarks.ddp [--steps 6] [--warmup 2] [--repeats 1] [--points 1024] [--batch 32]
"""
from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import socket
import statistics
import time
from dataclasses import dataclass

import torch

from benchmarks.timing import NUM_CLASSES
from pointnet.nn.model import PointNet
from pointnet.runtime.malloc import tune_malloc
from pointnet.training import distributed as dist
from pointnet.training.epoch import Trainer
from pointnet.training.settings import TrainSettings


@dataclass(frozen=True)
class DdpRun:
    """One run: ``device`` type (cuda or cpu), ranks, per-rank batch, points, steps, threads per rank
    (None: torch's default), whether to time the all-reduce on its own, and whether one rank still trains
    under DDP (the scaling rows' baseline) or as a plain process (the CPU table's)."""

    device: str
    world_size: int
    batch: int
    points: int
    steps: int
    warmup: int
    threads: int | None = None
    variant: str = "conv1d"
    allreduce: bool = False
    ddp_single: bool = True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def allreduce_seconds(model: PointNet, repeats: int = 5) -> float:
    """Median time to sum a gradient-sized float32 tensor over the ranks."""
    flat = torch.zeros(sum(p.numel() for p in model.parameters()))
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce_sum(flat)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rank(rank: int, run: DdpRun, port: int, results) -> None:
    """One rank: time the steps; rank 0 puts ``(step seconds, all-reduce seconds)`` on ``results``."""
    if run.world_size > 1 or run.ddp_single:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(run.world_size), LOCAL_RANK=str(rank),
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    tune_malloc()
    if run.threads is not None:
        torch.set_num_threads(run.threads)
    placement = dist.placement_from_env()
    device = dist.rank_device(torch.device(run.device), placement)
    with dist.process_group(placement, dist.resolve_backend("auto", device), timeout_s=600):
        torch.manual_seed(0)
        model = PointNet(NUM_CLASSES, run.variant).to(device)
        net = dist.data_parallel(model, device)
        g = torch.Generator(device=device).manual_seed(rank)
        data = (torch.randn(run.batch, run.points, 3, generator=g, device=device),
                torch.randint(0, NUM_CLASSES, (run.batch,), generator=g, device=device))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        stamps = [time.perf_counter()]
        Trainer(net, optimizer, TrainSettings(), device, after_step=lambda: stamps.append(time.perf_counter())).epoch(
            [data] * (run.warmup + run.steps), show_progress=False)
        comm = allreduce_seconds(model) if run.allreduce and run.world_size > 1 else 0.0
    if rank == 0:  # loss.item() in every step synchronises the device, so the stamps are step ends
        results.put(([b - a for a, b in itertools.pairwise(stamps)][run.warmup:], comm))


def run_ranks(run: DdpRun) -> tuple[list[float], float]:
    """Spawn ``run.world_size`` ranks on a free local port; rank 0's step times and all-reduce time.

    A rank that exits non-zero raises ``RuntimeError`` naming the run.
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.SimpleQueue()
    port = _free_port()
    if run.threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(run.threads)
    procs = [ctx.Process(target=_rank, args=(r, run, port, results)) for r in range(run.world_size)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"DDP benchmark with {run.world_size} ranks: a rank exited with {p.exitcode}")
    return results.get()


def ddp_scaling(device: str, world_sizes: tuple[int, ...], batch: int, points: int, steps: int,
                warmup: int = 2) -> list[dict]:
    """One row per world size: global samples/s and the efficiency against the first world size's rate."""
    rows = []
    for size in world_sizes:
        step = statistics.median(run_ranks(DdpRun(device, size, batch, points, steps, warmup))[0])
        rows.append({"world_size": size, "batch_per_rank": batch, "step_s": step,
                     "samples_per_s": size * batch / step})
    base = rows[0]["samples_per_s"] / rows[0]["world_size"]
    for r in rows:
        r["efficiency"] = r["samples_per_s"] / (r["world_size"] * base)
    return rows


def ddp_lines(rows: list[dict]) -> str:
    lines = [f"DDP (batch_scope=per_rank) {'ranks':>5} {'B/rank':>6} | {'samples/s':>9} {'efficiency':>10}"]
    for r in rows:
        lines.append(f"{'':26}{r['world_size']:>5} {r['batch_per_rank']:>6} | {r['samples_per_s']:9.0f} "
                     f"{100 * r['efficiency']:9.0f}%")
    return "\n".join(lines)


# ---------------------------------------------------------------- python -m benchmarks.ddp

SETUPS = ((1, 1), (1, 2), (2, 1))  # (processes, threads each)


def cpu_table(rows: list[tuple[DdpRun, list[float], float]], batch: int) -> str:
    """Markdown: samples/s and step time (medians), speed-up over 1 process x 2 threads, all-reduce share."""
    base = next(statistics.median(t) for r, t, _ in rows if (r.world_size, r.threads) == (1, 2))
    lines = ["| processes x threads | batch per rank | step s (median) | samples/s (median) | vs 1x2 | "
             "all-reduce s (share) |", "|---|---|---|---|---|---|"]
    for run, times, comm in rows:
        step = statistics.median(times)
        share = f"{comm:.3f} ({comm / step:.0%})" if run.world_size > 1 else "-"
        lines.append(f"| {run.world_size} x {run.threads} | {run.batch} | {step:.3f} | {batch / step:.1f} | "
                     f"{base / step:.2f}x | {share} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="global batch, split over the ranks")
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setup and repeat")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="runs of every setup, interleaved")
    parser.add_argument("--variant", default="conv1d", choices=("linear", "conv1d", "loop"))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    runs = [DdpRun("cpu", p, args.batch // p, args.points, args.steps, args.warmup, t, args.variant,
                   allreduce=True, ddp_single=False)
            for p, t in SETUPS]
    steps: dict[DdpRun, list[float]] = {r: [] for r in runs}
    comms: dict[DdpRun, list[float]] = {r: [] for r in runs}
    for _ in range(args.repeats):
        for run in runs:
            times, comm = run_ranks(run)
            steps[run] += times
            comms[run].append(comm)
            print(f"{run.world_size} process(es) x {run.threads} thread(s): median step "
                  f"{statistics.median(times):.3f} s", flush=True)
    params = sum(p.numel() for p in PointNet(NUM_CLASSES, args.variant).parameters())
    print(f"\nPointNet ({args.variant}, {NUM_CLASSES} classes, {params / 1e6:.2f}M parameters), global batch "
          f"{args.batch}, {args.points} points, {args.steps} timed steps x {args.repeats} repeat(s), torch "
          f"{torch.__version__}, {os.cpu_count()} CPU(s), 1-minute load average {load_before:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after (other work on the machine skews the threaded setups most)\n")
    print(cpu_table([(r, steps[r], statistics.median(comms[r])) for r in runs], args.batch))


if __name__ == "__main__":
    main()
