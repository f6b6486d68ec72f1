"""DDP scaling rows of the device section: 1..all GPUs, ``batch_scope=per_rank`` (each rank its own batch).

Every world size starts its ranks afresh (spawned processes, a free local port), trains the default
model through ``pointnet.training.distributed`` (DistributedDataParallel, NCCL on GPUs, gloo on a
CPU) and ``train_one_epoch`` on random clouds already on the rank's device, and rank 0 reports
each step's wall time. Scaling efficiency: global samples/s over ``world_size`` x the 1-rank rate.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import socket
import statistics
import time
from dataclasses import dataclass

import torch

from pointnet.nn.model import PointNet
from pointnet.training import distributed as dist
from pointnet.training.epoch import train_one_epoch

NUM_CLASSES = 40


@dataclass(frozen=True)
class DdpRun:
    """One world size's run: ``device`` type (cuda or cpu), per-rank batch, points, steps."""

    device: str
    world_size: int
    batch: int
    points: int
    steps: int
    warmup: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, run: DdpRun, port: int, results) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(run.world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    placement = dist.placement_from_env()
    device = dist.rank_device(torch.device(run.device), placement)
    with dist.process_group(placement, dist.resolve_backend("auto", device), timeout_s=600):
        torch.manual_seed(0)
        model = PointNet(NUM_CLASSES, "conv1d").to(device)
        net = dist.data_parallel(model, device)
        g = torch.Generator(device=device).manual_seed(rank)
        data = (torch.randn(run.batch, run.points, 3, generator=g, device=device),
                torch.randint(0, NUM_CLASSES, (run.batch,), generator=g, device=device))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        stamps = [time.perf_counter()]
        train_one_epoch(net, [data] * (run.warmup + run.steps), optimizer, reg_weight=0.001, device=device,
                        on_step=lambda *_: stamps.append(time.perf_counter()), progress=False)
    if rank == 0:  # loss.item() in every step synchronises the device, so the stamps are step ends
        results.put([b - a for a, b in itertools.pairwise(stamps)][run.warmup:])


def run_ranks(target, world_size: int, args: tuple, label: str):
    """Spawn ``target(rank, *args, port, results)`` for each rank on a free local port; rank 0's result.

    A rank that exits non-zero raises ``RuntimeError`` naming ``label``.
    """
    ctx = multiprocessing.get_context("spawn")
    results = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=target, args=(r, *args, port, results)) for r in range(world_size)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"{label}: a rank exited with {p.exitcode}")
    return results.get()


def step_seconds(run: DdpRun) -> float:
    """Median step of rank 0 with ``run.world_size`` ranks."""
    return statistics.median(run_ranks(_rank, run.world_size, (run,), f"DDP benchmark with {run.world_size} ranks"))


def ddp_scaling(device: str, world_sizes: tuple[int, ...], batch: int, points: int, steps: int,
                warmup: int = 2) -> list[dict]:
    """One row per world size: global samples/s and the efficiency against the first world size's rate."""
    rows = []
    for size in world_sizes:
        seconds = step_seconds(DdpRun(device, size, batch, points, steps, warmup))
        rows.append({"world_size": size, "batch_per_rank": batch, "step_s": seconds,
                     "samples_per_s": size * batch / seconds})
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
