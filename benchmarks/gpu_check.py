"""Checks on a CUDA device: the variants agree there too, and how fast each one trains.

Prints two tables: (1) the largest difference between each pair of variants (and fast vs plain) in
logits and gradients, float64 and float32, train and eval mode, on the GPU; (2) training-step and
eval samples/s per variant at batch 32 x 1024 points (medians of timed repeats, synchronised).
With ``--benchmark`` it then prints ``pointnet-benchmark --device``'s section too (GEMM peaks, training
per precision / launch mode / batch, inference at 1024, data share, DDP rows with several GPUs), so one
prepared script covers a lent GPU machine.
Usage: python -m benchmarks.gpu_check [--repeats 10] [--json out.json] [--benchmark]
"""
from __future__ import annotations

import argparse
import json

import torch

from benchmarks.device import DeviceOptions, device_lines, device_section
from benchmarks.steps import inference, training_step
from benchmarks.timing import NUM_CLASSES, median_seconds
from pointnet import PointNet
from pointnet.nn.losses import classification_loss
from pointnet.training.precision import set_matmul_precision

FORMS = [("linear", True), ("conv1d", True), ("linear", False), ("conv1d", False), ("loop", False)]


def twins(dtype: torch.dtype, device: torch.device) -> dict[str, PointNet]:
    torch.manual_seed(0)
    reference = PointNet(10, "conv1d", dropout=0.0, fast=False)
    with torch.no_grad():
        for m in reference.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                for tensor, low, high in ((m.weight, 0.5, 1.5), (m.bias, -0.3, 0.3), (m.running_mean, -0.5, 0.5),
                                          (m.running_var, 0.5, 2.0)):
                    if tensor is not None:
                        tensor.uniform_(low, high)
        if reference.feature_tnet is not None:
            reference.feature_tnet.out.weight.normal_(0, 0.01)
    models = {}
    for variant, fast in FORMS:
        model = PointNet(10, variant, dropout=0.0, fast=fast)
        model.load_state_dict(reference.state_dict())
        models[f"{variant}{'' if fast else ' (plain)'}"] = model.to(device=device, dtype=dtype)
    return models


def run(model: PointNet, points: torch.Tensor, labels: torch.Tensor, train: bool):
    model.train(train)
    x = points.clone().requires_grad_(train)
    logits, transform = model(x)
    if not train:
        return logits.detach(), None
    classification_loss(logits, labels, transform)[0].backward()
    assert x.grad is not None
    grads = torch.cat([x.grad.flatten()] + [p.grad.flatten() for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return logits.detach(), grads


def agreement(device: torch.device) -> list[dict]:
    rows = []
    for dtype in (torch.float64, torch.float32):
        models = twins(dtype, device)
        points = torch.randn(16, 1024 if dtype == torch.float32 else 256, 3, device=device, dtype=dtype)
        labels = torch.randint(0, 10, (16,), device=device)
        for train in (True, False):
            outs = {name: run(m, points, labels, train) for name, m in models.items()}
            ref_logits, ref_grads = outs["conv1d (plain)"]
            for name, (logits, grads) in outs.items():
                if name == "conv1d (plain)":
                    continue
                rows.append({"dtype": str(dtype).split(".")[1], "mode": "train" if train else "eval",
                             "form": name, "vs": "conv1d (plain)",
                             "logits": (logits - ref_logits).abs().max().item(),
                             "grads": (grads - ref_grads).abs().max().item() if train else float("nan"),
                             "grads_rel": ((grads - ref_grads).abs().max() / ref_grads.abs().max()).item()
                             if train else float("nan")})
    return rows


def throughput(device: torch.device, repeats: int, batch: int = 32, points: int = 1024) -> list[dict]:
    """Training-step and eval samples/s of every form (the loop with fewer repeats: it is slow)."""
    rows = []
    x = torch.randn(batch, points, 3, device=device)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    for variant, fast in FORMS:
        model = PointNet(NUM_CLASSES, variant, fast=fast).to(device)
        n = max(2, repeats // 5) if variant == "loop" else repeats
        train = median_seconds(training_step(model, x, y), n, 1, device)
        evaluate = median_seconds(inference(model, x), n, 1, device)
        rows.append({"form": f"{variant}{'' if fast else ' (plain)'}", "train_samples_s": batch / train,
                     "eval_samples_s": batch / evaluate})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", default=None)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to try the script here")
    parser.add_argument("--benchmark", action="store_true", help="also the benchmark's device section")
    args = parser.parse_args()
    device = torch.device(args.device)
    set_matmul_precision("float32")  # IEEE float32 matmuls and convolutions (TF32 off)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {name}, TF32 off")
    agree = agreement(device)
    print(f"\n{'dtype':8} {'mode':6} {'form':16} {'max |d logits|':>15} {'max |d grads|':>15} "
          f"{'relative':>10}   (vs conv1d plain; relative = max |d grads| / max |grads|)")
    for r in agree:
        print(f"{r['dtype']:8} {r['mode']:6} {r['form']:16} {r['logits']:15.3e} {r['grads']:15.3e} "
              f"{r['grads_rel']:10.2e}")
    speed = throughput(device, args.repeats)
    print(f"\n{'form':16} {'train samples/s':>16} {'eval samples/s':>15}   (batch 32 x 1024 points, float32)")
    for r in speed:
        print(f"{r['form']:16} {r['train_samples_s']:16.1f} {r['eval_samples_s']:15.1f}")
    bench = None
    if args.benchmark:
        bench = device_section(DeviceOptions(device), log=lambda message: print(message, flush=True))
        print("\n" + device_lines(bench))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"agreement": agree, "throughput": speed, "torch": torch.__version__,
                       "device": name, "benchmark": bench}, f, indent=2)


if __name__ == "__main__":
    main()
