"""The benchmark runs end to end on tiny shapes and reports what it claims (not how fast)."""
import json

import torch

from benchmarks import benchmark, data, memory, steps

TINY = ["--batch-size", "4", "--points", "32", "--repeats", "1", "--loop-repeats", "1", "--square", "256",
        "--data-seconds", "0.1", "--quiet"]


def test_table_and_json_cover_every_variant_and_form(tmp_path, capsys):
    out = tmp_path / "bench.json"
    benchmark.main([*TINY, "--variants", "linear,conv1d,loop", "--loop-batch-size", "2", "--no-memory",
                    "--no-untuned", "--no-data", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "float32 matmul peak" in printed and "threads" in printed
    report = json.loads(out.read_text())
    names = {(r["variant"], r["form"], r["batch"]) for r in report["rows"]}
    assert names == {("linear", "fast", 4), ("linear", "plain", 4), ("conv1d", "fast", 4), ("conv1d", "plain", 4),
                     ("linear", "ties", 4), ("linear", "fast", 2), ("linear", "plain", 2), ("loop", "plain", 2)}
    for row in report["rows"]:
        assert row["train_samples_per_s"] > 0 and 0 < row["train_peak_fraction"]
        assert row["mmac_per_sample"] > 0 and row["slowdown"] >= 1.0
    canonical = next(r for r in report["rows"] if (r["variant"], r["form"], r["batch"]) == ("conv1d", "plain", 4))
    assert canonical["vs_canonical"] == 1.0
    plain = report["executed_flop_per_sample"]["linear/plain@4"]
    forward = 2e6 * canonical["mmac_per_sample"]
    assert 2 * forward < plain < 3.1 * forward  # about 2x forward in backward (+ the regulariser's bmm)


def test_fast_path_executes_fewer_flop_at_full_size():
    fast, plain = (benchmark.executed_flop_per_sample("linear", form, points=1024) for form in ("fast", "plain"))
    assert fast < 0.6 * plain  # the fused pooled layer's backward skips the big GEMMs


def test_memory_probe_reads_peak_rss():
    args = benchmark.parse_args([*TINY, "--probe", "linear:fast:2"])
    found = memory.probe(args)
    assert found["peak_rss_mib"] > found["step_mib"] >= 0
    assert found["batch"] == 2 and found["train_s"] > 0


def test_data_section_reports_rates_and_share():
    args = benchmark.parse_args([*TINY, "--data-per-class", "1", "--data-workers", "1"])
    found = data.data_pipeline(args, "conv1d", log=lambda message: None)
    assert found["prepare_meshes_per_s"] > 0 and found["loader_samples_per_s"] > 0
    assert 0 <= found["epoch_data_share"] <= 1 and found["epoch_model"] == "conv1d/fast"
    assert "data pipeline:" in data.data_lines(found)


def test_tied_clouds_repeat_points_and_plain_clouds_do_not():
    tied = steps.benchmark_clouds(3, 256, ties=True)
    plain = steps.benchmark_clouds(3, 256)
    for cloud in tied:
        assert 0.5 * 256 < len(torch.unique(cloud, dim=0)) < 0.75 * 256  # about 1 - 1/e distinct
    assert all(len(torch.unique(cloud, dim=0)) == 256 for cloud in plain)


def test_real_epoch_rows_train_each_recipe_through_pointnet_train(tiny_data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    benchmark.main([*TINY, "--variants", "conv1d", "--no-memory", "--no-untuned", "--no-data", "--no-ties",
                    "--epoch-data", str(tiny_data), "--epoch-recipes", "paper,speedrun", "--json", str(out),
                    *[f"--epoch-override={o}" for o in ("data.dense_points=64", "runtime.threads=1", "data.workers=1",
                                                         "train.num_clouds=0")]])
    assert "real training epochs" in capsys.readouterr().out
    rows = json.loads(out.read_text())["epochs"]
    assert [r["recipe"] for r in rows] == ["paper", "speedrun"]
    for row in rows:
        assert row["epoch_samples_per_s"] > 0 and row["bare_step_samples_per_s"] > 0
        assert row["ratio"] == row["epoch_samples_per_s"] / row["bare_step_samples_per_s"]
