"""The benchmark's new sections run end to end on tiny shapes and report what they claim (not how fast).

The device section and the DDP rows run on a CPU here (gloo for DDP); ``--under-load`` really starts
its competitor and one fresh process per lever and condition.
"""
import json

import pytest
import torch

from benchmarks import benchmark, load
from benchmarks.ddp import ddp_lines, ddp_scaling

TINY_DEVICE = ["--points", "16", "--device-batches", "2,4", "--device-modes", "eager", "--device-infer-batch", "4",
               "--device-steps", "2", "--device-square", "64", "--device-epoch-clouds", "16", "--quiet"]


def test_device_section_rows_per_precision_mode_and_batch(tmp_path, capsys):
    out = tmp_path / "device.json"
    benchmark.main(["--device", "cpu:0", *TINY_DEVICE, "--device-precisions", "float32,bf16", "--json", str(out)])
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())["device_section"]
    assert {(r["precision"], r["mode"], r["batch"]) for r in report["train"]} == {
        (p, "eager", b) for p in ("float32", "bf16") for b in (2, 4)}
    assert all(r["train_samples_per_s"] > 0 and r["peak_fraction"] > 0 for r in report["train"])
    assert {(r["precision"], r["batch"]) for r in report["inference"]} == {("float32", 4), ("bf16", 4)}
    assert set(report["data"]) == {"device", "cpu loader"}
    assert all(0 <= d["data_share"] <= 1 for d in report["data"].values())
    assert report["ddp"] == []  # no GPUs here
    assert "GEMM peak" in printed and "data share of a training epoch, device" in printed
    assert torch.backends.cuda.matmul.allow_tf32 is False  # float32 restored after the tf32/bf16 rows


def test_ddp_rows_scale_over_ranks_on_gloo():
    rows = ddp_scaling("cpu", (1, 2), batch=2, points=16, steps=2, warmup=1)
    assert [r["world_size"] for r in rows] == [1, 2]
    assert rows[0]["efficiency"] == 1.0 and rows[1]["efficiency"] > 0
    assert rows[1]["samples_per_s"] == 2 * 2 / rows[1]["step_s"]
    assert "per_rank" in ddp_lines(rows)


@pytest.mark.serial  # starts its own CPU-bound competitor: scripts/test.sh runs it alone
def test_under_load_measures_a_lever_alone_and_beside_a_competitor():
    """One lever (two fresh processes, one beside the competitor): the others differ only in
    their environment, checked in tests/test_threads.py."""
    args = benchmark.parse_args(["--batch-size", "2", "--points", "16", "--load-steps", "2", "--levers", "default"])
    rows = load.under_load(args, log=lambda message: None)
    assert [r["lever"] for r in rows] == ["default"]
    r = rows[0]
    assert r["quiet_samples_per_s"] > 0 and r["loaded_samples_per_s"] > 0
    assert r["kept"] == r["loaded_samples_per_s"] / r["quiet_samples_per_s"]
    assert r["openmp_wait"] == "1000 spins" and r["vs_spin_quiet"] is None
    assert "kept" in load.load_table(rows, 2)


def test_compiled_rows_only_for_the_compile_precisions():
    from benchmarks.device import DeviceOptions, runs

    o = DeviceOptions(torch.device("cpu"), precisions=("float32", "tf32", "bf16"), modes=("eager", "reduce-overhead"),
                      compile_precisions=("bf16",))
    assert runs(o) == [("float32", "eager"), ("tf32", "eager"), ("bf16", "eager"), ("bf16", "reduce-overhead")]


def test_lever_environments():
    default = load.child_env(load.LEVER_SETTINGS["default"])
    assert default["GOMP_SPINCOUNT"] == "1000" and "OMP_WAIT_POLICY" not in default
    passive = load.child_env(load.LEVER_SETTINGS["passive"])
    assert passive["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in passive
    spin = load.child_env(load.LEVER_SETTINGS["spin"])
    assert spin["POINTNET_OPENMP"] == "spin" and "OMP_WAIT_POLICY" not in spin and "GOMP_SPINCOUNT" not in spin
