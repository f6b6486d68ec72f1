"""Every app refuses what it cannot use before any work, naming the key: in one line with exit code 2, or (a key
of another app's schema) in Hydra's own words."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pointnet.apps.common import open_checkpoint
from pointnet.apps.config import ConfigError, validate
from pointnet.apps.preflight import changed_keys, check_group_choices, check_runtime, check_used_keys
from pointnet.apps.schema import APPS, adopt_old_runtime_keys
from pointnet.apps.train import train
from tests.helpers import compose, tiny_overrides

ROOT = Path(__file__).parent.parent


def run_app(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", f"pointnet.apps.{module}", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_refusal(result: subprocess.CompletedProcess, key: str, message: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"error: {key}: {message}"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout


def test_train_refuses_an_experiment_typo_before_any_work(tiny_data, tmp_path):
    result = run_app("train", *tiny_overrides(tiny_data), "experiment=modelnet1O", f"hydra.run.dir={tmp_path}/run",
                     cwd=tmp_path)
    assert_one_line_refusal(result, "experiment", "unknown value 'modelnet1O'; choose one of ['modelnet10',")
    assert not list((tmp_path / "run").glob("*.pt")) and not (tmp_path / "run" / "tensorboard").exists()


@pytest.mark.parametrize("module,override,key", [
    ("predict", "data.root=elsewhere", "data.root"),
    ("prepare", "model.dropout=0.5", "model.dropout"),
    ("evaluate", "eval.top_k=2", "eval.top_k"),
])
def test_every_app_refuses_keys_of_its_schema_it_does_not_read(tiny_data, trained_run, tmp_path, module, override,
                                                                key):
    result = run_app(module, *app_args(module, tiny_data, trained_run), override, f"hydra.run.dir={tmp_path}/run",
                     cwd=tmp_path)
    app = {"evaluate": "eval"}.get(module, module)
    assert_one_line_refusal(result, key, f"not used by pointnet-{app}")


def app_args(module: str, tiny_data: Path, trained_run: Path) -> list[str]:
    checkpoint = f"checkpoint={trained_run / 'last.pt'}"
    data = [o for o in tiny_overrides(tiny_data) if o.startswith("data.")]
    return {"train": tiny_overrides(tiny_data), "prepare": data, "evaluate": [checkpoint],
            "predict": [checkpoint, "files=[a.off]"]}[module]


@pytest.mark.parametrize("module,override,key,schema", [
    ("train", "checkpoint=x.pt", "checkpoint", "TrainSchema"),
    ("evaluate", "train.lr=0.1", "train.lr", "OldRuntimeKeys"),  # eval's train group: the old runtime key names
    ("predict", "optimizer.lr=0.1", "optimizer", "PredictSchema"),
])
def test_keys_of_another_apps_schema_are_refused_by_composition_naming_them(tiny_data, trained_run, tmp_path, module,
                                                                            override, key, schema):
    result = run_app(module, *app_args(module, tiny_data, trained_run), override, f"hydra.run.dir={tmp_path}/run",
                     cwd=tmp_path)
    assert result.returncode != 0 and f"full_key: {key}" in result.stderr and schema in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run" / "tensorboard").exists()


def test_keys_an_app_reads_are_accepted_and_others_named():
    defaults = compose("eval")
    cfg = compose("eval", ["runtime.threads=1", "eval.votes=4", "model/shared_mlp=loop"])
    assert changed_keys(cfg, defaults) == ["eval.votes", "model.shared_mlp", "runtime.threads"]
    reads = APPS["eval"].reads()
    check_used_keys("eval", reads, cfg, defaults)
    for override, key in (["eval.top_k=1", "eval.top_k"], ["+seed=3", "seed"]):
        with pytest.raises(ConfigError, match=f"^{key}: "):
            check_used_keys("eval", reads, compose("eval", [override]), defaults)


@pytest.mark.parametrize("app", ["train", "eval", "predict"])
def test_the_runtime_keys_old_names_are_read_as_the_new_ones_with_a_warning(app):
    cfg = compose(app, ["train.threads=3", "train.device=cpu"])
    with pytest.warns(FutureWarning) as caught:
        adopt_old_runtime_keys(cfg)
    assert sorted(str(w.message).split(";")[0] for w in caught) == ["train.device is now runtime.device",
                                                                     "train.threads is now runtime.threads"]
    assert (cfg.runtime.threads, cfg.runtime.device) == (3, "cpu")
    assert (cfg.train.threads, cfg.train.device) == (None, None)  # nothing left for preflight to refuse
    check_used_keys(app, APPS[app].reads(), cfg, compose(app))


def test_an_old_runtime_key_beside_a_different_new_one_is_refused_naming_the_old():
    with pytest.raises(ConfigError, match=r"^train.device: is the old name of runtime.device, which is set to 'cpu'"):
        adopt_old_runtime_keys(compose("train", ["train.device=cuda", "runtime.device=cpu"]))


def test_an_old_runtime_key_on_the_command_line_still_runs(tiny_data, tmp_path):
    result = run_app("train", *tiny_overrides(tiny_data), "train.epochs=1", "train.threads=1",
                     f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "FutureWarning: train.threads is now runtime.threads" in result.stderr
    assert (tmp_path / "run" / "last.pt").is_file()


def test_unknown_optional_group_choice_is_refused_with_the_options():
    options = {"experiment": ["modelnet10", "modelnet40"], "data": ["synthetic"]}.get
    check_group_choices({"experiment": None, "data": "synthetic", "hydra/launcher": "x"}, options)
    with pytest.raises(ConfigError, match=r"^experiment: unknown value 'foo'; choose one of \['modelnet10', 'modelnet40'\]"):
        check_group_choices({"experiment": "foo"}, options)


@pytest.mark.parametrize("override,key", [
    ("eval.batch_size=0", "eval.batch_size"),
    ("runtime.threads=0", "runtime.threads"),
    ("runtime.threads=-2", "runtime.threads"),
    ("train.num_workers=-1", "train.num_workers"),
    ("runtime.device=cuda:x", "runtime.device"),
    ("train.bn_momentum.step_size=0", "train.bn_momentum.step_size"),
    ("seed=-1", "seed"),
    ("optimizer.weight_decay=-0.1", "optimizer.weight_decay"),
    ("data.augment.shift=-1", "data.augment.shift"),
    ("data.augment.scale_low=0", "data.augment.scale_low"),
    ("data.resampled_lists=modelnet20", "data.resampled_lists"),
    ("data.synthetic.train_per_class=0", "data.synthetic.train_per_class"),
    ("data.root=''", "data.root"),
    ("data.cache_dir=''", "data.cache_dir"),
])
def test_values_that_failed_mid_run_are_refused_by_training_validation(override, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        validate(compose(overrides=[override]))


def test_cuda_without_cuda_is_refused_naming_the_key():
    if torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"^runtime.device: 'cuda:99': only \d+ CUDA device"):
            check_runtime(None, "cuda:99")
    else:
        with pytest.raises(ConfigError, match="^runtime.device: 'cuda' requested but CUDA is not available"):
            check_runtime(None, "cuda")


def test_a_batch_larger_than_the_training_set_is_refused_before_training(tiny_data, tmp_path):
    cfg = compose(overrides=tiny_overrides(tiny_data, "train.batch_size=500"))
    with pytest.raises(ConfigError, match=r"^train.batch_size: a batch of 500 is larger than the training set \(39 "):
        train(cfg, run_dir=tmp_path)
    assert not list(tmp_path.rglob("*.pt")) and not (tmp_path / "tensorboard").exists()


def test_eval_and_predict_load_the_model_on_runtime_device(trained_run):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for app in ("eval", "predict"):
        files = ["files=[a.off]"] if app == "predict" else []
        cfg = compose(app, [f"checkpoint={trained_run / 'last.pt'}", f"runtime.device={device}", *files])
        model, _, _ = open_checkpoint(cfg, overrides=[])
        assert {p.device.type for p in model.parameters()} == {device}
        if not torch.cuda.is_available():  # before the fix, eval and predict ran on the CPU regardless
            cfg = compose(app, [f"checkpoint={trained_run / 'last.pt'}", "runtime.device=cuda"])
            with pytest.raises(ConfigError, match="^runtime.device: 'cuda' requested"):
                open_checkpoint(cfg, overrides=[])


def test_a_data_set_with_nothing_readable_is_one_line_with_exit_code_1(tmp_path):
    root = tmp_path / "broken"
    for split in ("train", "test"):
        (root / "chair" / split).mkdir(parents=True)
        (root / "chair" / split / "chair_0001.off").write_text("OFF\n3 1 0\n0 0 0\n")  # truncated
    result = run_app("prepare", f"data.root={root}", "data.generate=false", "data.workers=1",
                     f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("error: no readable shape in "))
    assert all(line.startswith("  ") and "chair_0001.off: truncated" in line for line in lines[first + 1 :])
