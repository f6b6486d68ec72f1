"""Training throughput on this machine: one process versus DistributedDataParallel over two (gloo, CPU).

    .venv/bin/python scripts/benchmark_ddp.py [--steps 6] [--warmup 2] [--repeats 1] [--points 1024] [--batch 32]

Every setup trains the same PointNet (40 classes, the default conv1d variant) on random clouds with
the same global batch, split over the ranks, through the project's own ``train_one_epoch`` and
``pointnet.training.distributed``; data loading is left out. Setups: 1 process x 1 thread, 1 process x 2
threads, 2 processes x 1 thread (so the last two use the same cores). The table gives medians over
the timed steps; the all-reduce line is the communication inside a DDP step (the gradients of every
parameter, summed over the ranks), timed on its own.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import torch

from pointnet.apps.bench_ddp import run_ranks
from pointnet.training import distributed as dist
from pointnet.training.epoch import train_one_epoch
from pointnet.nn.model import PointNet
from pointnet.training.runtime import tune_malloc

CLASSES = 40


@dataclass(frozen=True)
class Setup:
    processes: int
    threads: int


SETUPS = (Setup(1, 1), Setup(1, 2), Setup(2, 1))


def step_seconds(net: torch.nn.Module, model: PointNet, batch: int, points: int, steps: int, seed: int) -> list[float]:
    """Wall time of each of ``steps`` training steps (forward, backward with its all-reduce, Adam step)."""
    g = torch.Generator().manual_seed(seed)
    data = (torch.randn(batch, points, 3, generator=g), torch.randint(0, CLASSES, (batch,), generator=g))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stamps = [time.perf_counter()]
    train_one_epoch(net, [data] * steps, optimizer, reg_weight=0.001, device=torch.device("cpu"),
                    on_step=lambda *_: stamps.append(time.perf_counter()), progress=False)
    return [b - a for a, b in zip(stamps, stamps[1:])]


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


def worker(rank: int, setup: Setup, args: argparse.Namespace, port: int, results) -> None:
    """One rank: time the steps; rank 0 puts ``(step seconds, all-reduce seconds)`` on ``results``."""
    if setup.processes > 1:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(setup.processes), LOCAL_RANK=str(rank),
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    tune_malloc()
    torch.set_num_threads(setup.threads)
    with dist.process_group(dist.placement_from_env(), "gloo", timeout_s=900):
        torch.manual_seed(0)
        model = PointNet(num_classes=CLASSES, shared_mlp=args.variant)
        net = dist.data_parallel(model, torch.device("cpu"))
        times = step_seconds(net, model, args.batch // setup.processes, args.points, args.warmup + args.steps, rank)
        comm = allreduce_seconds(model) if setup.processes > 1 else 0.0
    if rank == 0:
        results.put((times[args.warmup:], comm))


def run_setup(setup: Setup, args: argparse.Namespace) -> tuple[list[float], float]:
    """Start the setup's processes (spawned, ``OMP_NUM_THREADS`` = its threads) and collect rank 0's timings."""
    os.environ["OMP_NUM_THREADS"] = str(setup.threads)
    return run_ranks(worker, setup.processes, (setup, args), str(setup))


def table(rows: list[tuple[Setup, list[float], float]], batch: int) -> str:
    """Markdown: samples/s and step time (medians), speed-up over 1 process x 2 threads, all-reduce share."""
    base = next(statistics.median(t) for s, t, _ in rows if s == Setup(1, 2))
    lines = ["| processes x threads | batch per rank | step s (median) | samples/s (median) | vs 1x2 | all-reduce s (share) |",
             "|---|---|---|---|---|---|"]
    for setup, times, comm in rows:
        step = statistics.median(times)
        share = f"{comm:.3f} ({comm / step:.0%})" if setup.processes > 1 else "-"
        lines.append(f"| {setup.processes} x {setup.threads} | {batch // setup.processes} | {step:.3f} | "
                     f"{batch / step:.1f} | {base / step:.2f}x | {share} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="global batch, split over the ranks")
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per setup and repeat")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="runs of every setup, interleaved")
    parser.add_argument("--variant", default="conv1d", choices=("linear", "conv1d", "loop"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    steps: dict[Setup, list[float]] = {s: [] for s in SETUPS}
    comms: dict[Setup, list[float]] = {s: [] for s in SETUPS}
    for _ in range(args.repeats):
        for setup in SETUPS:
            times, comm = run_setup(setup, args)
            steps[setup] += times
            comms[setup].append(comm)
            print(f"{setup.processes} process(es) x {setup.threads} thread(s): median step "
                  f"{statistics.median(times):.3f} s", flush=True)
    params = sum(p.numel() for p in PointNet(num_classes=CLASSES).parameters())
    print(f"\nPointNet ({args.variant}, {CLASSES} classes, {params / 1e6:.2f}M parameters), global batch {args.batch}, "
          f"{args.points} points, {args.steps} timed steps x {args.repeats} repeat(s), torch {torch.__version__}, "
          f"{os.cpu_count()} CPU(s), 1-minute load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} "
          "after (other work on the machine skews the threaded setups most)\n")
    print(table([(s, steps[s], statistics.median(comms[s])) for s in SETUPS], args.batch))


if __name__ == "__main__":
    main()
