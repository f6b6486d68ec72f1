"""benchmarks/time_to_accuracy.py end to end on the tiny data set: real training processes, TensorBoard's reader."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = ["data.num_points=32", "data.dense_points=64", "train.batch_size=4", "runtime.threads=1", "data.workers=1",
        "train.early_points=16", "train.num_clouds=0"]


def test_curves_table_and_plot_for_each_recipe_and_budget(tiny_data, tmp_path):
    out = tmp_path / "tta"
    command = [sys.executable, "-m", "benchmarks.time_to_accuracy", "--root", str(tiny_data),
               "--recipes", "paper,speedrun", "--budgets", "0.394,0.4", "--seeds", "0", "--val-fraction", "0.25",
               "--out", str(out), *[f"--override={o}" for o in TINY]]
    printed = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO).stdout
    assert "bare training step:" in printed and "| speedrun | 0.4 | 1 |" in printed
    runs = json.loads((out / "curves.json").read_text())["runs"]
    assert {(r["recipe"], r["budget"]) for r in runs} == {(r, b) for r in ("paper", "speedrun") for b in (0.394, 0.4)}
    for run in runs:
        assert run["epochs"] == len(run["minutes"]) >= 2  # one validation per epoch
        assert run["minutes"] == sorted(run["minutes"]) and 0 < run["minutes"][-1] <= run["wall_minutes"]
        assert all(0 <= a <= 1 for a in run["val_acc"]) and run["final"] == run["val_acc"][-1]
    longer = {r["recipe"]: r["epochs"] for r in runs if r["budget"] == 0.4}
    assert all(longer[r["recipe"]] > r["epochs"] for r in runs if r["budget"] == 0.394)  # more minutes, more epochs
    assert (out / "time_to_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "first min >= 89.2%" in (out / "table.md").read_text()
    again = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO).stdout
    assert again.count("|") == printed.count("|")  # finished runs are read, not repeated
