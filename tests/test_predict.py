"""``pointnet-predict`` for scripts, run as a real process: table, JSON lines and CSV on stdout, errors on
stderr in their own records, folders and globs, and an exit status that says whether any input failed."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pointnet import Classifier


@pytest.fixture(scope="module")
def inputs(trained_run, tiny_data, tmp_path_factory):
    """Two meshes in a folder, a point file matched by a glob, one broken mesh and one missing file."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "meshes").mkdir()
    meshes = sorted(Path(tiny_data).glob("chair/test/*.off"))[:2]
    for mesh in meshes:
        (folder / "meshes" / mesh.name).write_bytes(mesh.read_bytes())
    np.save(folder / "scan_1.npy", np.random.default_rng(0).normal(size=(300, 3)))
    (folder / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    return folder


def predict(checkpoint: Path, files: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pointnet.apps.predict", f"checkpoint={checkpoint}",
                           f"files={files}", f"hydra.run.dir={cwd / 'run'}", "runtime.threads=1", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def expected_labels(trained_run, paths: list[Path], top_k: int) -> list[list[str]]:
    clf = Classifier.from_checkpoint(trained_run / "last.pt")
    return [p.labels for p in clf.predict(paths, top_k=top_k)]


def test_json_lines_hold_every_input_and_failures_exit_1(trained_run, inputs, tmp_path):
    files = f"[{inputs / 'meshes'},{inputs / 'scan_*.npy'},{inputs / 'broken.off'},{inputs / 'missing.npy'}]"
    result = predict(trained_run / "last.pt", files, "predict.format=json", "eval.top_k=2", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: records only
    good = sorted((inputs / "meshes").glob("*.off")) + [inputs / "scan_1.npy"]
    assert [r["path"] for r in records] == [str(p) for p in good + [inputs / "broken.off", inputs / "missing.npy"]]
    assert [[t["label"] for t in r["top_k"]] for r in records[:3]] == expected_labels(trained_run, good, 2)
    assert all(r["seconds"] >= 0 for r in records)
    assert all(sum(t["probability"] for t in r["top_k"]) <= 1 + 1e-6 for r in records[:3])
    assert "truncated" in records[3]["error"] and "missing.npy: no such file" in records[4]["error"]
    assert "error: " + records[3]["error"] in result.stderr and "error: " + records[4]["error"] in result.stderr
    assert f"3 of 5 input(s) predicted, 2 failed; wrote {tmp_path / 'run' / 'predictions.json'}" in result.stderr
    assert json.loads((tmp_path / "run" / "predictions.json").read_text()) == records


def test_csv_and_table_and_a_clean_run_exits_0(trained_run, inputs, tmp_path):
    files = f"[{inputs / 'meshes'}]"
    result = predict(trained_run / "last.pt", files, "predict.format=csv", "eval.top_k=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    meshes = sorted((inputs / "meshes").glob("*.off"))
    assert [r["path"] for r in rows] == list(map(str, meshes)) and all(r["error"] == "" for r in rows)
    assert [[r[f"label_{k}"] for k in (1, 2, 3)] for r in rows] == expected_labels(trained_run, meshes, 3)
    assert all(float(r["probability_1"]) >= float(r["probability_2"]) >= float(r["probability_3"]) for r in rows)
    table = predict(trained_run / "last.pt", f"[{inputs / 'meshes'},{inputs / 'broken.off'}]", cwd=tmp_path)
    assert table.returncode == 1
    assert [line.split(":")[0] for line in table.stdout.splitlines()] == list(map(str, meshes))
    assert "broken.off" not in table.stdout and "broken.off" in table.stderr


def test_a_bad_format_is_refused_before_any_work(trained_run, inputs, tmp_path):
    result = predict(trained_run / "last.pt", f"[{inputs / 'meshes'}]", "predict.format=xml", cwd=tmp_path)
    assert result.returncode != 0 and "predict.format: unknown value 'xml'" in result.stderr
    assert result.stdout == "" and not (tmp_path / "run" / "predictions.json").exists()
