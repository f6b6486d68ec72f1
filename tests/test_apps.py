"""The console apps end to end: eval under any variant (through the CLI), predict, prepare, sweeps."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pointnet.apps.evaluate import evaluate_checkpoint
from pointnet.apps.predict import predict_files
from tests.helpers import compose

BIN = Path(sys.executable).parent


def cli(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(BIN / name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_eval_cli_gives_the_same_predictions_under_every_variant(trained_run, tmp_path):
    results = {}
    for variant in ("conv1d", "linear", "loop"):
        out = tmp_path / variant
        cli("pointnet-eval", f"checkpoint={trained_run / 'last.pt'}", f"model/shared_mlp={variant}",
            f"hydra.run.dir={out}", "runtime.threads=1", cwd=tmp_path)
        results[variant] = json.loads((out / "eval.json").read_text())
        assert (out / "confusion.png").is_file()
    assert [r["variant"] for r in results.values()] == ["conv1d", "linear", "loop"]
    assert results["conv1d"]["shapes"] == results["loop"]["shapes"] > 0
    assert results["conv1d"]["confusion"] == results["linear"]["confusion"] == results["loop"]["confusion"]
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert results["conv1d"]["acc"] == pytest.approx(saved["test/acc"])  # eval == the run's own last-epoch test


def test_eval_counts_every_test_shape_and_votes_rotate(trained_run, tmp_path, tiny_data):
    base = compose("eval", [f"checkpoint={trained_run / 'last.pt'}"])
    one = evaluate_checkpoint(base, tmp_path / "one", overrides=[])
    n_test = sum(1 for _ in Path(tiny_data).glob("*/test/*.off"))
    assert one["shapes"] == n_test and sum(map(sum, one["confusion"])) == n_test
    cfg = compose("eval", [f"checkpoint={trained_run / 'last.pt'}", "eval.votes=4", "eval.critical_points=1"])
    voted = evaluate_checkpoint(cfg, tmp_path / "voted", overrides=[])
    assert voted["shapes"] == n_test and voted["votes"] == 4
    assert list((tmp_path / "voted").glob("critical_points_*.png"))


def test_eval_on_val_is_the_runs_own_validation_and_train_the_shapes_it_trained_on(trained_run, tmp_path, tiny_data):
    checkpoint = f"checkpoint={trained_run / 'last.pt'}"
    val = evaluate_checkpoint(compose("eval", [checkpoint, "eval.split=val"]), tmp_path / "val", overrides=[])
    train = evaluate_checkpoint(compose("eval", [checkpoint, "eval.split=train"]), tmp_path / "train", overrides=[])
    n_train = sum(1 for _ in Path(tiny_data).glob("*/train/*.off"))
    assert 0 < val["shapes"] < n_train and val["shapes"] + train["shapes"] == n_train
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert val["acc"] == pytest.approx(saved["val/acc"], abs=1e-12)  # the last epoch's validation, shape for shape


def test_eval_on_val_of_a_run_without_validation_is_refused_before_loading_data(trained_run, tmp_path):
    from pointnet.apps.config import ConfigError

    cfg = compose("eval", [f"checkpoint={trained_run / 'last.pt'}", "eval.split=val", "data.val_fraction=0",
                           "data.root=/nonexistent"])
    with pytest.raises(ConfigError, match=r"^eval.split: val: this run held out no validation shapes"):
        evaluate_checkpoint(cfg, tmp_path, overrides=["data.val_fraction=0", "data.root=/nonexistent"])


def test_eval_without_checkpoint_names_the_key(tmp_path):
    from pointnet.apps.config import ConfigError

    with pytest.raises(ConfigError, match="^checkpoint: required"):
        evaluate_checkpoint(compose("eval"), tmp_path, overrides=[])


def test_predict_mesh_and_point_files(trained_run, tmp_path, tiny_data):
    mesh = next(Path(tiny_data).glob("*/test/*.off"))
    cloud = tmp_path / "cloud.xyz"
    np.savetxt(cloud, np.random.default_rng(0).normal(size=(300, 3)))
    broken = tmp_path / "broken.off"
    broken.write_text("OFF\n3 1 0\n0 0 0\n")
    cfg = compose("predict", [f"checkpoint={trained_run / 'last.pt'}", f"files=[{mesh},{cloud},{broken}]", "eval.top_k=3"])
    results = predict_files(cfg, tmp_path, overrides=[])
    assert [len(r.get("top_k", [])) for r in results] == [3, 3, 0]
    probs = [t["probability"] for t in results[0]["top_k"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert str(broken) in results[2]["error"]
    assert json.loads((tmp_path / "predictions.json").read_text()) == json.loads(json.dumps(results))


def test_critical_points_decide_the_global_feature(trained_run):
    from pointnet.apps.common import model_from_checkpoint
    from pointnet.reporting.critical_points import critical_point_indices

    model, _ = model_from_checkpoint(compose("eval", [f"checkpoint={trained_run / 'last.pt'}"]), [])
    points = torch.randn(200, 3)
    critical = critical_point_indices(model, points)
    assert 0 < len(critical) < 200
    with torch.no_grad():
        full = model(points[None])[0]
        only = model(points[critical][None])[0]
        rest = torch.ones(200, dtype=torch.bool).index_fill_(0, critical, False)
        without = model(points[rest][None])[0]
    torch.testing.assert_close(full, only, rtol=0, atol=0)
    assert not torch.allclose(full, without)
