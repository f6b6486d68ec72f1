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
  data share of a training epoch run by ``pointnet.training.epoch.train_one_epoch``.
"""
from __future__ import annotations

if __name__ == "__main__":  # python -m: the bounded OpenMP spin, set before torch loads (pointnet.apps.openmp)
    from pointnet.apps.openmp import quiet_openmp
    quiet_openmp()

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from pointnet.apps.bench_device import add_device_arguments, device_lines, device_options, device_section
from pointnet.apps.bench_epoch import add_epoch_arguments, epoch_rows, epoch_table
from pointnet.apps.bench_load import LEVERS, load_probe, load_table, under_load
from pointnet.nn.complexity import multiply_adds_per_sample
from pointnet.nn.losses import classification_loss
from pointnet.nn.model import PointNet
from pointnet.training.runtime import set_threads, tune_malloc

CANONICAL = ("conv1d", "plain")
NUM_CLASSES = 40


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


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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


def training_step(model: PointNet, points: torch.Tensor, labels: torch.Tensor,
                  run: Callable | None = None) -> Callable[[], None]:
    """Forward (through ``run``, e.g. a compiled model; default ``model``), loss + regulariser,
    backward, Adam step, as ``pointnet.training.epoch`` trains."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    run = model if run is None else run

    def step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        logits, transform = run(points)
        loss, _ = classification_loss(logits, labels, transform)
        loss.backward()
        optimizer.step()

    return step


def default_training_step(batch: int, points: int) -> Callable[[], None]:
    """The default model's (``conv1d``, fast) training step on random clouds: what ``--under-load`` times."""
    model = build_model("conv1d", "fast")
    return training_step(model, torch.randn(batch, points, 3), torch.randint(0, NUM_CLASSES, (batch,)))


def bare_step_rate(args: argparse.Namespace, steps: int = 5) -> Callable[[], float]:
    """A function timing the default training step ``steps`` times: its median samples/s."""
    step = default_training_step(args.batch_size, args.points)
    step()
    return lambda: args.batch_size / statistics.median(seconds(step) for _ in range(steps))


def inference(model: PointNet, points: torch.Tensor, run: Callable | None = None) -> Callable[[], None]:
    run = model if run is None else run

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            run(points)

    return infer


def build_model(variant: str, form: str) -> PointNet:
    """``form``: ``fast``, ``plain``, ``ties`` (the fast form, timed on clouds with repeated points) or
    ``compiled`` (the plain form; the caller compiles it)."""
    torch.manual_seed(0)
    return PointNet(NUM_CLASSES, shared_mlp=variant, fast=form in ("fast", "ties"))


def benchmark_clouds(batch: int, points: int, ties: bool = False) -> torch.Tensor:
    """``(B, N, 3)`` random clouds; ``ties``: each drawn with replacement from its own ``N`` points, so
    about a third of the points are exact copies and most max-pool channels tie (padded or gridded data)."""
    clouds = torch.randn(batch, points, 3)
    if not ties:
        return clouds
    draw = torch.randint(0, points, (batch, points))
    return torch.gather(clouds, 1, draw[:, :, None].expand(-1, -1, 3))


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


def executed_flop_per_sample(variant: str, form: str, points: int, batch: int = 2) -> float:
    """FLOP of one training step (forward + backward) per sample, as ``flop_counter`` sees them."""
    model = build_model(variant, form)
    cloud, labels = torch.randn(batch, points, 3), torch.randint(0, NUM_CLASSES, (batch,))
    counter = FlopCounterMode(display=False)
    with counter:
        logits, transform = model(cloud)
        classification_loss(logits, labels, transform)[0].backward()
    return counter.get_total_flops() / batch


# ---------------------------------------------------------------- subprocess probes (memory, malloc)

def read_status_kib(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def probe(args: argparse.Namespace) -> dict:
    """In a fresh process: peak RSS of training steps for one candidate, and their median time."""
    malloc = tune_malloc() if args.probe_malloc == "tuned" else False
    set_threads(args.threads)
    variant, form, batch = args.probe.split(":")
    batch = int(batch)
    model = build_model(variant, form)
    step = training_step(model, benchmark_clouds(batch, args.points, ties=form == "ties"),
                         torch.randint(0, NUM_CLASSES, (batch,)))
    before = read_status_kib("VmRSS")
    times = [seconds(step) for _ in range(1 + args.probe_steps)]
    peak = read_status_kib("VmHWM")
    return {"variant": variant, "form": form, "batch": batch, "malloc_tuned": malloc,
            "peak_rss_mib": peak / 1024 if peak else None,
            "step_mib": (peak - before) / 1024 if peak and before else None,
            "train_s": statistics.median(times[1:]) if len(times) > 1 else times[0]}


def run_probe(args: argparse.Namespace, variant: str, form: str, batch: int, malloc: str = "tuned",
              steps: int = 1) -> dict:
    """``probe`` in a child process with the same thread count; glibc ``MALLOC_*`` variables removed."""
    command = [sys.executable, "-m", "pointnet.apps.benchmark", "--probe", f"{variant}:{form}:{batch}",
               "--probe-malloc", malloc, "--probe-steps", str(steps), "--points", str(args.points),
               "--threads", str(torch.get_num_threads())]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- data pipeline

def epoch_variant(variants: list[str]) -> str:
    """The variant whose fast form trains the data-share epoch: the first fast-capable one asked for."""
    return next((v for v in variants if v != "loop"), "linear")


def data_pipeline(args: argparse.Namespace, log: Callable[[str], None]) -> dict:
    """Meshes/s to prepare, samples/s from the cache, and the data share of a training epoch.

    Works on a small procedural corpus (``pointnet.data.generate_synthetic``) in a temporary folder,
    so it needs no download; the default data set's preparation time is extrapolated from the rate.
    """
    try:
        from pointnet.data import Augmentation, PointCloudDataset, PointSet, generate_synthetic, load_split
        from pointnet.data.synthetic import SYNTHETIC_CLASSES
        from pointnet.training.batching import make_loader
        from pointnet.training.epoch import train_one_epoch
    except ImportError as error:  # the data package is developed in parallel
        return {"skipped": f"pointnet.data not available ({error})"}
    per_class = args.data_per_class
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        generate_seconds = seconds(lambda: generate_synthetic(root, train_per_class=per_class, test_per_class=1,
                                                              workers=args.data_workers, progress=False))
        meshes = len(SYNTHETIC_CLASSES) * (per_class + 1)
        holder: dict[str, PointSet] = {}
        prepare_seconds = seconds(lambda: holder.update(
            train=load_split("meshes", root, "train", cache_dir=Path(tmp) / "cache", workers=args.data_workers,
                             progress=False)))
        prepared = len(holder["train"])
        cached_seconds = seconds(lambda: holder.update(
            train=load_split("meshes", root, "train", cache_dir=Path(tmp) / "cache", progress=False)))
        dataset = PointCloudDataset(holder["train"], args.points, train=True, augment=Augmentation(), seed=0)
        loader = make_loader(dataset, args.batch_size, train=True, seed=0)
        drawn, epochs = 0, 0
        start = time.perf_counter()
        while drawn < 4 * args.batch_size or time.perf_counter() - start < args.data_seconds:
            dataset.set_epoch(epochs)
            drawn += sum(len(labels) for _, labels in loader)
            epochs += 1
        loader_rate = drawn / (time.perf_counter() - start)
        log("data: timing one training epoch")
        model = build_model(epoch_variant(args.variants), "fast")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        stats = train_one_epoch(model, loader, optimizer, reg_weight=0.001, device=torch.device("cpu"))
    default_meshes = len(SYNTHETIC_CLASSES) * (40 + 15)
    return {
        "meshes_generated": meshes, "generate_meshes_per_s": meshes / generate_seconds,
        "prepared_meshes": prepared, "prepare_meshes_per_s": prepared / prepare_seconds,
        "cached_reload_s": cached_seconds,
        "default_set_meshes": default_meshes,
        "default_set_generate_s_estimate": default_meshes / (meshes / generate_seconds),
        "default_set_prepare_s_estimate": default_meshes / (prepared / prepare_seconds),
        "loader_samples_per_s": loader_rate,
        "epoch_samples": stats.samples, "epoch_seconds": stats.seconds, "epoch_data_share": stats.data_share,
        "epoch_model": f"{epoch_variant(args.variants)}/fast",
    }


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
                             "per lever (OpenMP waiting, thread governor; see pointnet.apps.bench_load)")
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
        report = device_section(device_options(args), log)
        print(f"pointnet-benchmark  torch {torch.__version__}  --device {args.device}\n{device_lines(report)}")
        if args.json is not None:
            args.json.write_text(json.dumps({"torch": torch.__version__, "device_section": report,
                                             "time": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
        return
    peak = measure_peak(args.batch_size, args.points, args.repeats, args.square)
    candidates = candidates_for(args)
    macs = {c.name: multiply_adds_per_sample(build_model(c.variant, c.form), args.points) for c in candidates}
    executed = {c.name: executed_flop_per_sample(c.variant, c.form, args.points) for c in candidates}
    log(f"timing {', '.join(c.name for c in candidates)}")
    run_rounds(candidates, peak, args.repeats, log)
    memory = {}
    if not args.no_memory:
        for c in candidates:
            if c.form == "compiled":
                continue
            log(f"memory probe {c.name}")
            found = run_probe(args, c.variant, c.form, c.batch)
            memory[c.name] = {k: found[k] for k in ("peak_rss_mib", "step_mib")}
    untuned = None
    if not args.no_untuned and "conv1d" in args.variants:
        log("canonical with default malloc")
        untuned = run_probe(args, *CANONICAL, args.batch_size, malloc="default", steps=max(2, min(args.repeats, 3)))
    data = {"skipped": "--no-data"} if args.no_data else data_pipeline(args, log)
    loaded = under_load(args, log) if args.under_load else None
    epochs = epoch_rows(args, bare_step_rate(args), log) if args.epoch_data is not None else None
    rows = summarise(candidates, peak, macs, executed, memory)
    lines = [header(args, malloc, peak), table(rows)]
    if untuned is not None:
        canonical = next(r for r in rows if (r["variant"], r["form"], r["batch"]) == (*CANONICAL, args.batch_size))
        rate = untuned["batch"] / untuned["train_s"]
        lines.append(f"canonical conv1d/plain with glibc's default malloc (separate process): {rate:.2f} train "
                     f"samples/s, {3 * 2 * canonical['mmac_per_sample'] * 1e6 * rate / 1e9:.1f} GFLOP/s, "
                     f"peak RSS {untuned['peak_rss_mib']:.0f} MiB")
    for c in candidates:
        if c.form == "compiled":
            lines.append(f"{c.name}: torch.compile of the plain form; first train + eval + batch-1 calls "
                         f"(compilation) took {c.warmup_s:.1f} s")
    lines.append("GFLOP/s count a training step as 3 x forward multiply-adds x 2; 'exec' counts the FLOP the path "
                 "executes (flop_counter) and its %peak is the executed work's fraction of the matmul peak: the "
                 "fast path's fused pooled layer skips most of the backward GEMMs")
    lines.append(data_lines(data))
    if loaded is not None:
        lines.append(load_table(loaded, os.cpu_count()))
    if epochs is not None:
        lines.append(epoch_table(epochs, args.batch_size, args.points))
    print("\n".join(lines))
    if args.json is not None:
        medians = {k: statistics.median(v) for k, v in peak["samples"].items()}
        report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "malloc_tuned": malloc,
                  "batch_size": args.batch_size, "points": args.points, "repeats": args.repeats,
                  "peak_gflops": medians, "rows": rows, "untuned_canonical": untuned, "data": data,
                  "executed_flop_per_sample": executed, "under_load": loaded, "epochs": epochs,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
