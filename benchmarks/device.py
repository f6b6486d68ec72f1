"""``pointnet-benchmark --device cuda``: the default model on an accelerator, per precision and launch mode.

Rows (medians of synchronised timed steps after warm-up):

- GEMM peak of the device per precision (square ``--device-square``^3 matmul: float32 IEEE, TF32, bf16);
- training samples/s of the default model (``conv1d``, fast form = plain ops on rows on a GPU) at
  each ``--device-batches`` size, per precision (``train.precision``) and mode: ``eager`` or
  ``torch.compile(mode="reduce-overhead")`` (CUDA graphs; ``train.compile=true
  train.compile_mode=reduce-overhead``) at the ``--device-compile-batches`` sizes; canonical
  TFLOP/s (3 x forward multiply-adds x 2) and their fraction of that precision's GEMM peak;
- inference samples/s at ``--device-infer-batch`` (1024) per precision and mode;
- the data share of a training epoch: ``pointnet.training.epoch.Trainer.epoch`` over the device
  pipeline (``DeviceBatches``) and over the CPU loader, on random dense clouds;
- with more than one GPU, DDP scaling 1..all GPUs (``batch_scope=per_rank``): ``benchmarks.ddp``.

Everything runs on a CPU too (``--device cpu``), which the tests use on tiny shapes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from benchmarks.ddp import ddp_lines, ddp_scaling
from benchmarks.steps import inference, training_step
from benchmarks.timing import NUM_CLASSES, median_seconds
from pointnet.data.pipeline.augment import Augmentation
from pointnet.data.pipeline.cloud_dataset import PointCloudDataset
from pointnet.data.pointset import PointSet
from pointnet.nn.complexity import multiply_adds_per_sample
from pointnet.nn.model import PointNet
from pointnet.training.batching import epoch_sampler, make_loader
from pointnet.training.device_batches import DeviceBatches
from pointnet.training.epoch import EpochTotals, Trainer
from pointnet.training.precision import set_matmul_precision
from pointnet.training.settings import TrainSettings

PEAK_DTYPES = {"float32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class DeviceOptions:
    """What the device section measures (plain values from the command line)."""

    device: torch.device
    batches: tuple[int, ...] = (32, 256, 1024)
    compile_batches: tuple[int, ...] = (32,)
    infer_batch: int = 1024
    points: int = 1024
    precisions: tuple[str, ...] = ("float32", "tf32", "bf16")
    modes: tuple[str, ...] = ("eager", "reduce-overhead")
    compile_precisions: tuple[str, ...] = ("float32", "bf16")  # compiled rows only for these (each compiles)
    steps: int = 20
    warmup: int = 3
    square: int = 8192
    epoch_clouds: int = 2048
    ddp_sizes: tuple[int, ...] = ()  # world sizes of the DDP rows; () = 1..all GPUs when there are several


def gemm_peak(o: DeviceOptions) -> dict[str, float]:
    """TFLOP/s of a square matmul per precision name."""
    peaks = {}
    for name in o.precisions:
        set_matmul_precision(name)
        a = torch.randn(o.square, o.square, device=o.device, dtype=PEAK_DTYPES[name])
        b, out = torch.randn_like(a), torch.empty_like(a)
        seconds = median_seconds(partial(torch.mm, a, b, out=out), max(3, o.steps // 4), 1, o.device)
        peaks[name] = 2.0 * o.square**3 / seconds / 1e12
    set_matmul_precision("float32")
    return peaks


def build(o: DeviceOptions, mode: str) -> tuple[PointNet, Callable]:
    torch.manual_seed(0)
    model = PointNet(NUM_CLASSES, "conv1d", fast=True).to(o.device)
    return model, model if mode == "eager" else torch.compile(model, mode=mode)


def training_rate(o: DeviceOptions, name: str, mode: str, batch: int) -> float:
    """Training samples/s: forward + loss under ``name``'s autocast, backward, Adam step."""
    set_matmul_precision(name)
    model, run = build(o, mode)
    points = torch.randn(batch, o.points, 3, device=o.device)
    labels = torch.randint(0, NUM_CLASSES, (batch,), device=o.device)
    step = training_step(model, points, labels, run, precision=name)
    rate = batch / median_seconds(step, o.steps, o.warmup, o.device)
    set_matmul_precision("float32")
    return rate


def inference_rate(o: DeviceOptions, name: str, mode: str) -> float:
    set_matmul_precision(name)
    model, run = build(o, mode)
    infer = inference(model, torch.randn(o.infer_batch, o.points, 3, device=o.device), run, precision=name)
    rate = o.infer_batch / median_seconds(infer, o.steps, o.warmup, o.device)
    set_matmul_precision("float32")
    return rate


def epoch_data_share(o: DeviceOptions, batch: int) -> dict[str, dict[str, float]]:
    """Data share and samples/s of one epoch over random dense clouds: device pipeline vs CPU loader."""
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(o.epoch_clouds, 2 * o.points, 3)).astype(np.float32)
    labels = np.arange(o.epoch_clouds) % NUM_CLASSES
    points = PointSet(dense, labels, [str(c) for c in range(NUM_CLASSES)], [str(i) for i in range(len(dense))])
    dataset = PointCloudDataset(points, o.points, train=True, augment=Augmentation(), seed=0)
    out = {}
    for name, batches in (("device", DeviceBatches(dataset, batch, o.device)),
                          ("cpu loader", make_loader(dataset, batch, train=True, seed=0))):
        model, _ = build(o, "eager")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        epoch_sampler(batches).set_epoch(0)
        trainer = Trainer(model, optimizer, TrainSettings(), o.device)
        trainer.epoch(batches, show_progress=False)  # warm-up
        epoch_sampler(batches).set_epoch(1)
        trainer.totals = EpochTotals()
        stats = trainer.epoch(batches, show_progress=False)
        out[name] = {"data_share": stats.data_share, "samples_per_s": stats.samples_per_second}
    return out


def device_section(o: DeviceOptions, log: Callable[[str], None]) -> dict:
    """Every row of the device section as plain values (``device_lines`` prints them)."""
    mac = multiply_adds_per_sample(PointNet(NUM_CLASSES, "conv1d"), o.points)
    log(f"device {o.device}: GEMM peaks")
    peaks = gemm_peak(o)
    rows = []
    for name, mode in runs(o):
        for batch in (o.batches if mode == "eager" else o.compile_batches):
            log(f"device: train {name} {mode} batch {batch}")
            rate = training_rate(o, name, mode, batch)
            tflops = 3 * 2 * mac * rate / 1e12
            rows.append({"precision": name, "mode": mode, "batch": batch, "train_samples_per_s": rate,
                         "train_tflops": tflops, "peak_fraction": tflops / peaks[name]})
    infer = []
    for name, mode in runs(o):
        log(f"device: inference {name} {mode}")
        rate = inference_rate(o, name, mode)
        infer.append({"precision": name, "mode": mode, "batch": o.infer_batch, "samples_per_s": rate,
                      "tflops": 2 * mac * rate / 1e12})
    log("device: data share of an epoch")
    data = epoch_data_share(o, o.batches[0])
    sizes = o.ddp_sizes or ddp_world_sizes(o.device)
    log(f"device: DDP world sizes {sizes}" if sizes else "device: one GPU, no DDP rows")
    ddp = ddp_scaling(o.device.type, sizes, o.batches[0], o.points, o.steps) if sizes else []
    return {"device": device_name(o.device), "peaks_tflops": peaks, "train": rows, "inference": infer,
            "data": data, "ddp": ddp, "mmac_per_sample": mac / 1e6}


def runs(o: DeviceOptions) -> list[tuple[str, str]]:
    """``(precision, mode)`` pairs: every precision eager, the compiled modes for ``compile_precisions``."""
    return [(name, mode) for name in o.precisions for mode in o.modes
            if mode == "eager" or name in o.compile_precisions]


def ddp_world_sizes(device: torch.device) -> tuple[int, ...]:
    """1..all GPUs where there is more than one, else none."""
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    return tuple(range(1, count + 1)) if count > 1 else ()


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def device_lines(report: dict) -> str:
    peaks = ", ".join(f"{k} {v:.1f}" for k, v in report["peaks_tflops"].items())
    lines = [f"device {report['device']}: GEMM peak (TFLOP/s) {peaks}",
             f"{'precision':9} {'mode':15} {'B':>5} | {'train/s':>9} {'TFLOP/s':>8} {'%peak':>5}"]
    for r in report["train"]:
        lines.append(f"{r['precision']:9} {r['mode']:15} {r['batch']:5d} | {r['train_samples_per_s']:9.0f} "
                     f"{r['train_tflops']:8.2f} {100 * r['peak_fraction']:5.1f}")
    lines.append(f"{'precision':9} {'mode':15} {'B':>5} | {'infer/s':>9} {'TFLOP/s':>8}")
    for r in report["inference"]:
        lines.append(f"{r['precision']:9} {r['mode']:15} {r['batch']:5d} | {r['samples_per_s']:9.0f} "
                     f"{r['tflops']:8.2f}")
    for name, d in report["data"].items():
        lines.append(f"data share of a training epoch, {name}: {100 * d['data_share']:.1f}% "
                     f"({d['samples_per_s']:.0f} samples/s, float32 eager)")
    if report["ddp"]:
        lines.append(ddp_lines(report["ddp"]))
    return "\n".join(lines)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _names(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.split(",") if v)


def add_device_arguments(parser) -> None:
    """The ``--device*`` options of ``pointnet-benchmark``."""
    parser.add_argument("--device", default="cpu",
                        help="cpu: the CPU table; cuda[:N]: the device section instead "
                             "(see benchmarks.device)")
    parser.add_argument("--device-batches", type=_ints, default=(32, 256, 1024), help="training batch sizes")
    parser.add_argument("--device-compile-batches", type=_ints, default=(32,),
                        help="batch sizes also timed under torch.compile (each compiles once)")
    parser.add_argument("--device-infer-batch", type=int, default=1024)
    parser.add_argument("--device-precisions", type=_names, default=("float32", "tf32", "bf16"))
    parser.add_argument("--device-modes", type=_names, default=("eager", "reduce-overhead"),
                        help="eager and/or torch.compile modes (reduce-overhead: CUDA graphs)")
    parser.add_argument("--device-compile-precisions", type=_names, default=("float32", "bf16"),
                        help="precisions that also get the compiled modes' rows")
    parser.add_argument("--device-steps", type=int, default=20, help="timed steps per row")
    parser.add_argument("--device-square", type=int, default=8192, help="size of the square GEMM of the peak")
    parser.add_argument("--device-epoch-clouds", type=int, default=2048, help="clouds in the data-share epoch")
    parser.add_argument("--device-ddp", type=_ints, default=(),
                        help="DDP world sizes (default: 1..all GPUs when there is more than one)")


def device_options(args) -> DeviceOptions:
    """``DeviceOptions`` from parsed ``--device*`` options (the points come from ``--points``)."""
    return DeviceOptions(torch.device(args.device), args.device_batches, args.device_compile_batches,
                         args.device_infer_batch, args.points, args.device_precisions, args.device_modes,
                         args.device_compile_precisions, args.device_steps, square=args.device_square,
                         epoch_clouds=args.device_epoch_clouds, ddp_sizes=args.device_ddp)
