"""A real variant sweep through the CLI, compared by scripts/compare_variants.py."""
import os
import subprocess
import sys
from pathlib import Path

from pointnet.reporting.compare import load_sweep, markdown_table

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def test_variant_sweep_runs_all_variants_and_their_curves_agree(tiny_data, tmp_path):
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    sweep = tmp_path / "sweep"
    args = ["-m", "experiment=variant_sweep", f"data.root={tiny_data}", "data.generate=false", "data.num_points=32",
            "data.dense_points=64", "data.workers=1", "runtime.threads=1", "train.epochs=2",
            f"hydra.sweep.dir={sweep}"]  # 2 epochs show the curves agree; test_sweeps checks the budget learns
    done = subprocess.run([str(BIN / "pointnet-train"), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = load_sweep(sweep)
    assert [r.variant for r in runs] == ["linear", "conv1d", "loop"]
    table = markdown_table(runs)
    assert table.count("\n") == 4 and "| loop |" in table
    out = subprocess.run([str(BIN.parent / "bin" / "python"), str(ROOT / "scripts" / "compare_variants.py"),
                          str(sweep)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (sweep / "compare.md").read_text().strip() == table and (sweep / "compare.png").stat().st_size > 0
    gaps = [float(line.rsplit("|", 2)[-2]) for line in table.splitlines()[2:]]
    assert gaps[0] == 0.0 and max(gaps) < 1e-8, table  # same seed, float64: the same loss curves
