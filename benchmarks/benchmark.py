"""``pointnet-benchmark``: what the machine can do, and what each shared-MLP variant gets of it.

Everything in the table is measured in one process, candidates interleaved round by round (shared
machines drift by 20-30% within minutes, so back-to-back blocks would compare different machines),
and reported as medians:

- float32 matmul peak: a square 2048^3 GEMM and the PointNet-shaped ``(B*N, 128) @ (128, 1024)``,
  timed at start and once per round; fractions are of the larger median;
- per variant and form (``fast`` / ``plain``): training-step samples/s (forward, cross-entropy +
  orthogonality regulariser, backward, Adam step), eval samples/s at the batch size and latency at
  batch 1 (under ``torch.no_grad()``), multiply-adds per sample (``pointnet.nn.complexity``), achieved
  GFLOP/s counted the canonical way (a training step = 3 x forward multiply-adds x 2 FLOP; the
  fused fast path executes fewer, shown as ``exec``), and the fraction of the matmul peak;
- peak memory: each candidate's training step rerun in a fresh subprocess that reads its own
  ``VmHWM`` (peak RSS) from ``/proc/self/status``; ``+step`` is that peak minus the RSS before the
  first step (model, optimiser and inputs already built);
- the canonical form (``conv1d``, plain) once more with glibc's default malloc, in a subprocess;
- the data pipeline (``pointnet.data``): meshes/s to prepare, samples/s from the cache, and the
  data share of a training epoch run by ``pointnet.training.epoch.Trainer``.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: the bounded OpenMP spin, set before torch loads (pointnet.runtime.openmp)
    from pointnet.runtime.openmp import quiet_openmp
    quiet_openmp()

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.data import data_lines, data_pipeline
from benchmarks.device import add_device_arguments, device_lines, device_options, device_section
from benchmarks.epoch import add_epoch_arguments, epoch_rows, epoch_table
from benchmarks.load import LEVERS, load_probe, load_table, under_load
from benchmarks.memory import probe, run_probe
from benchmarks.steps import (
    bare_step_rate,
    benchmark_clouds,
    build_model,
    default_training_step,
    inference,
    training_step,
)
from benchmarks.timing import NUM_CLASSES, seconds
from pointnet.nn.complexity import multiply_adds_per_sample
from pointnet.nn.losses import classification_loss
from pointnet.runtime.malloc import tune_malloc
from pointnet.runtime.threads import set_threads

CANONICAL = ("conv1d", "plain")


@dataclass
class Candidate:
    """One variant in one form, with its model, closures and timings (seconds per call)."""

    variant: str
    form: str
    batch: int
    repeats: int
    train: Callable[[], None]
    evaluate: Callable[[], None]
    evaluate_one: Callable[[], None]
    times: dict[str, list[float]] = field(default_factory=lambda: {"train": [], "eval": [], "eval1": []})
    warmup_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.variant}/{self.form}@{self.batch}"

    def warm_up(self) -> None:
        self.train()
        self.evaluate()
        self.evaluate_one()


def matmul_probes(batch: int, points: int, square: int) -> dict[str, tuple[Callable[[], object], float]]:
    """The GEMMs of the peak, with their FLOP counts: a large square one, the PointNet-shaped
    ``(B*N, 128) @ (128, 1024)`` and its one-sample slice (whose output stays in cache, which on some
    machines runs fastest). The peak is the best median of them."""
    shapes = {"square": (square, square, square), "pointnet": (batch * points, 128, 1024),
              "sample": (points, 128, 1024)}
    probes: dict[str, tuple[Callable[[], object], float]] = {}
    for name, (m, k, n) in shapes.items():
        a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
        probes[name] = (partial(torch.mm, a, b, out=out), 2.0 * m * k * n)
    return probes


def make_candidate(variant: str, form: str, batch: int, points: int, repeats: int) -> Candidate:
    model = build_model(variant, form)
    run = torch.compile(model) if form == "compiled" else model
    cloud = benchmark_clouds(batch, points, ties=form == "ties")
    labels = torch.randint(0, NUM_CLASSES, (batch,))
    return Candidate(variant, form, batch, repeats, training_step(model, cloud, labels, run),
                     inference(model, cloud, run), inference(model, cloud[:1], run))


def candidates_for(args: argparse.Namespace) -> list[Candidate]:
    """Every requested variant in each of its forms (the loop has only ``plain``).

    The loop runs at its own (small) batch with few rounds; when that batch differs, the first fast-capable
    variant is timed at it too, so the loop's slowdown compares equal batches.
    """
    forms = ("fast", "plain")
    batched = [v for v in args.variants if v != "loop"]
    chosen = [make_candidate(v, f, args.batch_size, args.points, args.repeats) for v in batched for f in forms]
    if batched and not args.no_ties:
        chosen.append(make_candidate(epoch_variant(args.variants), "ties", args.batch_size, args.points,
                                     args.repeats))
    if args.compile:
        chosen.append(make_candidate(epoch_variant(args.variants), "compiled", args.batch_size, args.points,
                                     args.repeats))
    if "loop" in args.variants:
        batch = args.loop_batch_size
        if batch != args.batch_size:
            reference = epoch_variant(args.variants)
            chosen += [make_candidate(reference, f, batch, args.points, args.loop_repeats) for f in forms]
        chosen.append(make_candidate("loop", "plain", batch, args.points, args.loop_repeats))
    return chosen


def cpu_pressure_us() -> int | None:
    """Cumulative microseconds some task waited for a CPU (Linux PSI), or None where unavailable."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first.rsplit("total=", 1)[1])


def run_rounds(candidates: list[Candidate], peak: dict, repeats: int, log: Callable[[str], None]) -> None:
    """Warm every candidate up, then time them interleaved, one call each per round.

    ``peak`` maps a GEMM name to ``(fn, flop)`` plus a ``samples`` dict of GFLOP/s lists, which gets
    one sample per round so the peak is measured under the same machine conditions.
    """
    for c in candidates:
        c.warmup_s = seconds(c.warm_up)
    start, waited = time.perf_counter(), cpu_pressure_us()
    for r in range(repeats):
        for name, (fn, flop) in peak["probes"].items():
            peak["samples"][name].append(flop / seconds(fn) / 1e9)
        for c in candidates:
            if r >= c.repeats:  # the loop's budget
                continue
            c.times["train"].append(seconds(c.train))
            c.times["eval"].append(seconds(c.evaluate))
            c.times["eval1"].append(statistics.median(seconds(c.evaluate_one) for _ in range(5)))
        log(f"round {r + 1}/{repeats} done")
    now = cpu_pressure_us()
    if waited is not None and now is not None:
        peak["pressure"] = (now - waited) / 1e6 / (time.perf_counter() - start)


def measure_peak(batch: int, points: int, repeats: int, square: int) -> dict:
    """GEMM probes timed ``repeats`` times at start (after a warm-up call)."""
    probes = matmul_probes(batch, points, square)
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for name, (fn, flop) in probes.items():
        fn()
        samples[name] += [flop / seconds(fn) / 1e9 for _ in range(repeats)]
    return {"probes": probes, "samples": samples}


def epoch_variant(variants: list[str]) -> str:
    """The variant whose fast form trains the data-share epoch: the first fast-capable one asked for."""
    return next((v for v in variants if v != "loop"), "linear")


def executed_flop_per_sample(variant: str, form: str, points: int, batch: int = 2) -> float:
    """FLOP of one training step (forward + backward) per sample, as ``flop_counter`` sees them."""
    model = build_model(variant, form)
    cloud, labels = torch.randn(batch, points, 3), torch.randint(0, NUM_CLASSES, (batch,))
    counter = FlopCounterMode(display=False)
    with counter:
        logits, transform = model(cloud)
        classification_loss(logits, labels, transform)[0].backward()
    return counter.get_total_flops() / batch


# ---------------------------------------------------------------- report

def summarise(candidates: list[Candidate], peak: dict, macs: dict, executed: dict, memory: dict) -> list[dict]:
    """One row per candidate: medians, GFLOP/s, fractions of the peak, ratios."""
    peak_gflops = max(statistics.median(v) for v in peak["samples"].values())
    rows = []
    for c in candidates:
        train_s = statistics.median(c.times["train"])
        eval_s = statistics.median(c.times["eval"])
        mac = macs[c.name]
        train_gflops = 3 * 2 * mac * c.batch / train_s / 1e9
        eval_gflops = 2 * mac * c.batch / eval_s / 1e9
        rows.append({
            "variant": c.variant, "form": c.form, "batch": c.batch, "repeats": len(c.times["train"]),
            "train_samples_per_s": c.batch / train_s, "train_gflops": train_gflops,
            "train_peak_fraction": train_gflops / peak_gflops,
            "train_executed_gflops": executed[c.name] * c.batch / train_s / 1e9,
            "train_executed_peak_fraction": executed[c.name] * c.batch / train_s / 1e9 / peak_gflops,
            "eval_samples_per_s": c.batch / eval_s, "eval_gflops": eval_gflops,
            "eval_peak_fraction": eval_gflops / peak_gflops,
            "eval_batch1_ms": 1e3 * statistics.median(c.times["eval1"]),
            "mmac_per_sample": mac / 1e6, **memory.get(c.name, {}),
        })
    for r in rows:
        same_batch = [o for o in rows if o["batch"] == r["batch"]]
        canonical = next((o for o in same_batch if (o["variant"], o["form"]) == CANONICAL), None)
        r["vs_canonical"] = r["train_samples_per_s"] / canonical["train_samples_per_s"] if canonical else None
        r["slowdown"] = max(o["train_samples_per_s"] for o in same_batch) / r["train_samples_per_s"]
    return rows


def fmt(value, spec: str) -> str:
    return format(value, spec) if value is not None else "-"


def table(rows: list[dict]) -> str:
    head = (f"{'variant':8} {'form':8} {'B':>3} | "
            f"{'train/s':>7} {'GFLOP/s':>7} {'%peak':>5} {'exec':>6} {'%peak':>5} | "
            f"{'eval/s':>7} {'GFLOP/s':>7} {'%peak':>5} {'b1 ms':>6} | {'MMAC':>5} {'RSS MiB':>7} {'+step':>6} | "
            f"{'x canon':>7} {'slowdown':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['variant']:8} {r['form']:8} {r['batch']:>3} | {r['train_samples_per_s']:7.2f} "
            f"{r['train_gflops']:7.1f} {100 * r['train_peak_fraction']:5.0f} {r['train_executed_gflops']:6.1f} "
            f"{100 * r['train_executed_peak_fraction']:5.0f} | "
            f"{r['eval_samples_per_s']:7.1f} {r['eval_gflops']:7.1f} {100 * r['eval_peak_fraction']:5.0f} "
            f"{r['eval_batch1_ms']:6.1f} | {r['mmac_per_sample']:5.0f} {fmt(r.get('peak_rss_mib'), '7.0f')} "
            f"{fmt(r.get('step_mib'), '6.0f')} | {fmt(r['vs_canonical'], '7.2f')} {r['slowdown']:8.1f}")
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")


def header(args: argparse.Namespace, malloc: bool, peak: dict) -> str:
    cpu = cpu_name()
    medians = {k: statistics.median(v) for k, v in peak["samples"].items()}
    return (f"pointnet-benchmark  torch {torch.__version__}  threads {torch.get_num_threads()}  "
            f"cores {os.cpu_count()}  cpu {cpu}  malloc tuned {malloc}\n"
            f"batch {args.batch_size} x {args.points} points, medians of {args.repeats} interleaved rounds "
            f"(loop and its batch-{args.loop_batch_size} references: {args.loop_repeats}); "
            f"CPU pressure while timing {100 * peak.get('pressure', float('nan')):.0f}% "
            f"(time some task waited for a core: other load on the machine)\n"
            f"float32 matmul peak (GFLOP/s): square {args.square}^3 {medians['square']:.1f}, PointNet-shaped "
            f"{args.batch_size * args.points}x128 @ 128x1024 {medians['pointnet']:.1f}, one sample "
            f"{args.points}x128 @ 128x1024 {medians['sample']:.1f}; %peak is of the best, {max(medians.values()):.1f}")


# ---------------------------------------------------------------- entry point

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pointnet-benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--variants", default="linear,conv1d,loop", type=lambda s: [v for v in s.split(",") if v])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--loop-repeats", type=int, default=2, help="rounds for the (slow) loop variant")
    parser.add_argument("--loop-batch-size", type=int, default=8, help="batch for the (slow) loop variant")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of the plain form (compiles for about a minute)")
    parser.add_argument("--no-ties", action="store_true",
                        help="skip the fast form's row on clouds with repeated points (form 'ties')")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-untuned", action="store_true", help="skip the default-malloc canonical run")
    parser.add_argument("--no-data", action="store_true", help="skip the data-pipeline section")
    parser.add_argument("--data-per-class", type=int, default=8, help="train meshes per class for the data section")
    parser.add_argument("--data-workers", type=int, default=2)
    parser.add_argument("--data-seconds", type=float, default=2.0, help="minimum time drawing from the loader")
    parser.add_argument("--square", type=int, default=2048, help="size of the square GEMM of the peak")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--under-load", action="store_true",
                        help="also time the default training step alone and beside a competing CPU-bound process, "
                             "per lever (OpenMP waiting, thread governor; see benchmarks.load)")
    parser.add_argument("--levers", default=",".join(LEVERS), type=lambda s: [v for v in s.split(",") if v],
                        help=f"levers for --under-load, from {', '.join(LEVERS)}")
    parser.add_argument("--load-steps", type=int, default=6, help="timed steps per lever and condition")
    parser.add_argument("--load-timeout", type=float, default=600.0, help="seconds one lever's process may take")
    parser.add_argument("--load-probe", choices=LEVERS, help=argparse.SUPPRESS)
    add_device_arguments(parser)
    add_epoch_arguments(parser)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    parser.add_argument("--probe-malloc", default="tuned", help=argparse.SUPPRESS)
    parser.add_argument("--probe-steps", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def memory_rows(args: argparse.Namespace, candidates: list[Candidate], log: Callable[[str], None]) -> dict:
    """Each candidate's peak RSS and step memory, measured in a fresh process (compiled ones aside)."""
    memory = {}
    for c in candidates:
        if c.form != "compiled":
            log(f"memory probe {c.name}")
            found = run_probe(args, c.variant, c.form, c.batch)
            memory[c.name] = {k: found[k] for k in ("peak_rss_mib", "step_mib")}
    return memory


def notes(rows: list[dict], candidates: list[Candidate], untuned: dict | None, batch: int) -> list[str]:
    """The lines under the table: the default-malloc run, compile times, how GFLOP/s are counted."""
    lines = []
    if untuned is not None:
        canonical = next(r for r in rows if (r["variant"], r["form"], r["batch"]) == (*CANONICAL, batch))
        rate = untuned["batch"] / untuned["train_s"]
        lines.append(f"canonical conv1d/plain with glibc's default malloc (separate process): {rate:.2f} train "
                     f"samples/s, {3 * 2 * canonical['mmac_per_sample'] * 1e6 * rate / 1e9:.1f} GFLOP/s, "
                     f"peak RSS {untuned['peak_rss_mib']:.0f} MiB")
    lines += [f"{c.name}: torch.compile of the plain form; first train + eval + batch-1 calls (compilation) took "
              f"{c.warmup_s:.1f} s" for c in candidates if c.form == "compiled"]
    lines.append("GFLOP/s count a training step as 3 x forward multiply-adds x 2; 'exec' counts the FLOP the path "
                 "executes (flop_counter) and its %peak is the executed work's fraction of the matmul peak: the "
                 "fast path's fused pooled layer skips most of the backward GEMMs")
    return lines


def device_report(args: argparse.Namespace, log: Callable[[str], None]) -> None:
    """``--device cuda``: the device section instead of the CPU table."""
    report = device_section(device_options(args), log)
    print(f"pointnet-benchmark  torch {torch.__version__}  --device {args.device}\n{device_lines(report)}")
    if args.json is not None:
        args.json.write_text(json.dumps({"torch": torch.__version__, "device_section": report,
                                         "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))


def cpu_report(args: argparse.Namespace, malloc: bool, log: Callable[[str], None]) -> dict:
    """The CPU table and its sections, printed; every figure returned."""
    peak = measure_peak(args.batch_size, args.points, args.repeats, args.square)
    candidates = candidates_for(args)
    macs = {c.name: multiply_adds_per_sample(build_model(c.variant, c.form), args.points) for c in candidates}
    executed = {c.name: executed_flop_per_sample(c.variant, c.form, args.points) for c in candidates}
    log(f"timing {', '.join(c.name for c in candidates)}")
    run_rounds(candidates, peak, args.repeats, log)
    memory = {} if args.no_memory else memory_rows(args, candidates, log)
    untuned = None
    if not args.no_untuned and "conv1d" in args.variants:
        log("canonical with default malloc")
        untuned = run_probe(args, *CANONICAL, args.batch_size, malloc="default", steps=max(2, min(args.repeats, 3)))
    data = {"skipped": "--no-data"} if args.no_data else data_pipeline(args, epoch_variant(args.variants), log)
    loaded = under_load(args, log) if args.under_load else None
    epochs = None if args.epoch_data is None else epoch_rows(args, bare_step_rate(args.batch_size, args.points), log)
    rows = summarise(candidates, peak, macs, executed, memory)
    lines = [header(args, malloc, peak), table(rows), *notes(rows, candidates, untuned, args.batch_size),
             data_lines(data)]
    lines += [load_table(loaded, os.cpu_count())] if loaded is not None else []
    lines += [epoch_table(epochs, args.batch_size, args.points)] if epochs is not None else []
    print("\n".join(lines))
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "malloc_tuned": malloc,
            "batch_size": args.batch_size, "points": args.points, "repeats": args.repeats,
            "peak_gflops": {k: statistics.median(v) for k, v in peak["samples"].items()}, "rows": rows,
            "untuned_canonical": untuned, "data": data, "executed_flop_per_sample": executed,
            "under_load": loaded, "epochs": epochs, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args)))
        return
    if args.load_probe:
        print(json.dumps(load_probe(args, lambda: default_training_step(args.batch_size, args.points))))
        return
    unknown = sorted(set(args.levers) - set(LEVERS))
    if unknown:
        raise SystemExit(f"--levers: unknown {unknown}; choose from {', '.join(LEVERS)}")
    malloc = tune_malloc()
    set_threads(args.threads)
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    if args.device != "cpu":
        device_report(args, log)
        return
    report = cpu_report(args, malloc, log)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
