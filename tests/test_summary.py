"""``pointnet-summary`` on a tiny real multirun: mean ± std per recipe, voting, table, plot."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pointnet import PointNet
from pointnet.apps.summary import summarize
from pointnet.data import PointCloudDataset, PointSet
from pointnet.training.evaluation import rotate_about_z, vote_confusion
from tests.helpers import tiny_overrides


@pytest.fixture(scope="module")
def sweep(tiny_data, tmp_path_factory):
    """A real Hydra multirun: {paper, modern} x seeds {0, 1}, two epochs each."""
    sweep_dir = tmp_path_factory.mktemp("multirun") / "sweep"
    command = [sys.executable, "-m", "pointnet.apps.train", "-m", "experiment=paper,modern", "seed=0,1",
               *tiny_overrides(tiny_data), "scheduler.warmup_epochs=1", f"hydra.sweep.dir={sweep_dir}"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return sweep_dir


def metrics(sweep_dir):
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")}


def test_summary_is_mean_and_std_over_seeds_per_recipe(sweep, tmp_path):
    text = summarize(sweep, votes=1, out_dir=tmp_path)
    table = json.loads((tmp_path / "summary.json").read_text())
    assert set(table["recipes"]) == {"experiment=paper", "experiment=modern"}
    runs = metrics(sweep)
    assert len(runs) == 4
    for job in table["jobs"]:
        assert job["test/vote_acc"] == pytest.approx(runs[job["job"]]["test/best_acc"])  # one view: the test itself
    for recipe, values in table["recipes"].items():
        members = [runs[j["job"]] for j in table["jobs"] if j["recipe"] == recipe]
        accs = [m["test/best_acc"] for m in members]
        mean, std, n = values["test/best_acc"]
        assert n == 2 and mean == pytest.approx(np.mean(accs)) and std == pytest.approx(np.std(accs, ddof=1))
        assert f"| {recipe} | 2 | {100 * values['test/acc'][0]:.1f} ± {100 * values['test/acc'][1]:.1f} |" in text
    assert (tmp_path / "summary.png").stat().st_size > 1000 and (tmp_path / "summary.md").read_text() == text + "\n"


def test_console_command_votes_and_writes_into_the_sweep(sweep):
    done = subprocess.run([sys.executable, "-m", "pointnet.apps.summary", str(sweep), "--votes", "3", "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "voting acc (chosen on val), 3 views" in done.stdout
    jobs = json.loads((sweep / "summary.json").read_text())["jobs"]
    assert all(0 <= job["test/vote_acc"] <= 1 for job in jobs) and len(jobs) == 4
    bad = subprocess.run([sys.executable, "-m", "pointnet.apps.summary", str(sweep / "nothing")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no finished job" in bad.stderr


def test_vote_confusion_averages_logits_over_draws_and_rotations():
    rng = np.random.default_rng(0)
    point_set = PointSet(rng.normal(size=(5, 40, 3)).astype(np.float32), np.array([0, 1, 2, 0, 1]),
                         ["a", "b", "c"], [f"f{i}" for i in range(5)])
    model = PointNet(3).double().eval()
    votes = 4
    expected = torch.zeros(5, 3, dtype=torch.float64)
    with torch.no_grad():
        for v in range(votes):
            draw = torch.stack([PointCloudDataset(point_set, 16, train=False, seed=7 + v)[i][0] for i in range(5)])
            expected += model(rotate_about_z(draw.double(), 2 * math.pi * v / votes))[0]
    cm = vote_confusion(model, point_set, 16, votes=votes, rotate=True, device=torch.device("cpu"), batch_size=2,
                        seed=7)
    matrix = torch.zeros(3, 3, dtype=torch.int64)
    for true, guess in zip([0, 1, 2, 0, 1], expected.argmax(1).tolist()):
        matrix[true, guess] += 1
    assert torch.equal(cm.matrix, matrix)
    unrotated = vote_confusion(model, point_set, 16, votes=1, rotate=True, device=torch.device("cpu"), seed=7)
    with torch.no_grad():
        draw = torch.stack([PointCloudDataset(point_set, 16, train=False, seed=7)[i][0] for i in range(5)])
        first = model(draw.double())[0]
    assert unrotated.matrix.diagonal().sum() == int((first.argmax(1) == torch.tensor([0, 1, 2, 0, 1])).sum())
