"""Hydra sweeps for real: the Optuna sweeper, the submitit local launcher, SLURM's rank variables.

Every sweep runs ``python -m pointnet.apps.train -m ...`` in a subprocess on the tiny data set, with the
installed plugins (hydra-optuna-sweeper, hydra-submitit-launcher, submitit).
"""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from pointnet.apps.launch import sweep_subdir
from pointnet.runtime.slurm import first_host, slurm_task
from pointnet.training.distributed import Placement, placement_from_env
from tests.helpers import compose, free_port, tiny_overrides

WORKER_ENV = {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def sweep(cwd: Path, *args: str, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """``pointnet-train -m ARGS`` in ``cwd``; asserts the exit status when ``ok``."""
    command = [sys.executable, "-m", "pointnet.apps.train", "-m", *args]
    result = subprocess.run(command, cwd=cwd, env={**os.environ, **WORKER_ENV, **(env or {})},
                            capture_output=True, text=True, timeout=400)
    if ok:
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def job_dirs(cwd: Path) -> list[Path]:
    return sorted(p.parent for p in cwd.glob("multirun/*/*/*/metrics.json"))


def test_slurm_variables_place_a_task_where_torchrun_is_absent():
    slurm = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "123457",
             "SLURM_JOB_NODELIST": "gpu[07-09,11],cpu1"}
    assert placement_from_env(slurm) == Placement(3, 8, 1, True, "gpu07", 20000 + 123457 % 20000)
    assert placement_from_env({**slurm, "MASTER_ADDR": "head", "MASTER_PORT": "29500"}).master_addr == "head"
    torchrun = {**slurm, "RANK": "5", "WORLD_SIZE": "6", "LOCAL_RANK": "2"}
    assert placement_from_env(torchrun) == Placement(5, 6, 2, True)  # torchrun inside a SLURM job wins
    assert placement_from_env({**slurm, "SLURM_NTASKS": "1"}) == Placement()  # one task: a plain run
    assert [first_host(n) for n in ("node1", "a[2-5]", "b[03],c1", "127.0.0.1")] == ["node1", "a2", "b03",
                                                                                      "127.0.0.1"]
    with pytest.raises(ValueError, match="node list"):
        first_host("")


def hydra_config(*overrides: str):
    """The ``hydra`` node of the training config composed with ``overrides``."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    compose()  # registers the configs
    with initialize_config_module(config_module="pointnet.configs", version_base="1.3"):
        return hydra_compose("train", list(overrides), return_hydra_config=True).hydra


def test_the_slurm_launcher_setup_exports_the_rendezvous_the_tasks_compute():
    """``hydra/launcher=slurm``: one task per GPU, and its ``setup`` lines give the port the tasks derive."""
    launcher = hydra_config("hydra/launcher=slurm", "hydra.launcher.gpus_per_node=4").launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.tasks_per_node == 4
    port_line = next(line for line in launcher.setup if "MASTER_PORT" in line)
    env = {"SLURM_JOB_ID": "987654", "PATH": os.environ["PATH"]}
    port = subprocess.run(["bash", "-c", f"{port_line}; echo $MASTER_PORT"], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()
    task = slurm_task({**env, "SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "n1"})
    assert int(port) == task.master_port


def test_sweep_job_dirs_are_named_by_their_number_and_overrides():
    assert sweep_subdir("model/shared_mlp=loop,train.lr=0.01", 3) == "3_shared_mlp=loop,lr=0.01"
    assert sweep_subdir("data.root=/a/b", 0) == "0_root=_a_b"  # no nested folders
    assert sweep_subdir("", 7) == "7"
    assert sweep_subdir("train.lr=0.0012520653814999472,seed=12345678,tag=1e-3", 0) == "0_lr=0.001252,seed=12345678,tag=1e-3"
    long = sweep_subdir(",".join(f"k{i}=v" for i in range(100)), 5)
    assert len(long) < 255 and long.startswith("5_k0=v")


def test_jobs_whose_shown_overrides_match_still_get_their_own_dirs():
    """``experiment=modern runtime.threads=1,2``: threads is left out of the name, the job number is not;
    so are values equal once shortened and keys equal once cut to their last part."""
    names = {sweep_subdir("experiment=modern", n) for n in range(2)}
    names |= {sweep_subdir(f"train.lr={v}", n) for n, v in ((2, "0.00125201"), (3, "0.00125204"))}
    names |= {sweep_subdir(f"{k}.lr=0.1", n) for n, k in ((4, "train"), (5, "optimizer"))}
    assert len(names) == 6, names


def test_two_slurm_tasks_train_as_one_distributed_run(tiny_data, tmp_path):
    """Two processes with only SLURM's variables (as ``srun -n2`` starts them) join one gloo group."""
    port = free_port()
    base = {**os.environ, **WORKER_ENV, "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "127.0.0.1",
            "SLURM_JOB_ID": "42", "MASTER_PORT": str(port)}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "TORCHELASTIC_RUN_ID"):
        base.pop(key, None)
    command = [sys.executable, "-m", "pointnet.apps.train", *tiny_overrides(tiny_data, "train.batch_size=8")]
    tasks = [subprocess.Popen(command, cwd=tmp_path, env={**base, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    outputs = [t.communicate(timeout=300)[0] for t in tasks]
    assert [t.returncode for t in tasks] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    runs = [p.parent for p in tmp_path.glob("outputs/*/*/last.pt")]
    assert len(runs) == 1, runs  # the same run dir: both tasks read the launch time of their common parent
    assert "rank 1 of 2" in (runs[0] / "train_rank1.log").read_text()
    assert "val/acc" in json.loads((runs[0] / "metrics.json").read_text())


def test_a_submitit_local_sweep_runs_two_jobs_that_return_validation_accuracy(tiny_data, tmp_path):
    sweep(tmp_path, "hydra/launcher=submitit_local", "model/shared_mlp=linear,conv1d", *tiny_overrides(tiny_data))
    jobs = job_dirs(tmp_path)
    assert len(jobs) == 2 and {"shared_mlp=linear" in j.name for j in jobs} == {True, False}, jobs
    results = sorted(jobs[0].parent.glob(".submitit/*/*_result.pkl"))
    assert len(results) == 2, list(jobs[0].parent.rglob("*"))
    returned = {}
    for path in results:
        status, job_return = pickle.loads(path.read_bytes())
        assert status == "success"
        returned[Path(job_return.working_dir).name if job_return.working_dir else None] = job_return.return_value
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        assert "test/acc" in metrics
        assert metrics["val/acc"] in returned.values()
        acc = EventAccumulator(str(job / "tensorboard"))
        acc.Reload()
        experiment = hparams_metadata.parse_experiment_plugin_data(
            acc.PluginTagToContent("hparams")["_hparams_/experiment"])
        differs = {info.name for info in experiment.hparam_infos if info.differs}
        assert "model.shared_mlp" in differs and "train.lr" not in differs  # the swept key is flagged


def test_an_optuna_sweep_samples_the_space_and_maximises_validation_accuracy(tiny_data, tmp_path):
    sweep(tmp_path, "hydra/sweeper=recipe_search", "hydra.sweeper.n_trials=2", *tiny_overrides(tiny_data))
    jobs = job_dirs(tmp_path)
    assert len(jobs) == 2, jobs
    space = compose_sweeper()["params"]
    trials = []
    for job in jobs:
        overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra/overrides.yaml").read_text()))
        config = yaml.safe_load((job / ".hydra/config.yaml").read_text())
        assert float(overrides["train.lr"]) == config["train"]["lr"] and 1e-4 <= config["train"]["lr"] <= 1e-2
        assert 0 <= config["optimizer"]["weight_decay"] <= 0.1 and 0 <= config["model"]["dropout"] <= 0.6
        assert 0 <= config["train"]["label_smoothing"] <= 0.3 and 0 <= config["train"]["cutmix_prob"] <= 1
        assert config["train"]["ema_decay"] in (0.0, 0.99, 0.995)
        augment = config["data"]["augment"]
        assert 0 <= augment["point_dropout"] <= 0.875 and 0 <= augment["shift"] <= 0.2
        assert set(space) <= set(overrides)
        shown = [f"{k.rsplit('.', 1)[-1]}={float(overrides[k]):.4g}" for k in space]
        assert job.name.split("_", 1)[1].startswith(tuple(shown))  # named by its sampled values (truncated)
        trials.append((json.loads((job / "metrics.json").read_text())["val/acc"], overrides))
    results = yaml.safe_load(next(tmp_path.glob("multirun/*/*/optimization_results.yaml")).read_text())
    best_acc = max(acc for acc, _ in trials)
    assert results["best_value"] == pytest.approx(best_acc)
    best = [{k: float(o[k]) for k in space} for acc, o in trials if acc == pytest.approx(best_acc)]  # ties: any
    assert any(params == pytest.approx(results["best_params"]) for params in best)


def compose_sweeper() -> dict:
    return hydra_config("hydra/sweeper=recipe_search").sweeper


def test_keys_left_out_of_job_names_are_the_ones_left_out_of_hparams():
    """Both come from the schema's roles (pointnet.roles): every key kept out of a job's name is one HParams
    leaves out too, so a name never hides a setting that changes results, and every speed, place or report key
    of pointnet-train is kept out."""
    from pointnet.apps.schema import changes_results, roles

    excluded = set(hydra_config().job.config.override_dirname.exclude_keys)
    assert not any(changes_results(k) for k in excluded), excluded
    assert {"train.figures_every", "runtime.threads", "data.root", "resume", "train.compile"} <= excluded
    assert not {"train.lr", "train.epochs", "model.shared_mlp", "seed", "data.augment.rotate"} & excluded
    assert excluded == {k for k, r in roles().items() if r in ("speed", "place", "report")}


def test_the_roles_decide_what_a_resume_may_change():
    from pointnet.apps.schema import resume_may_differ
    from pointnet.training.state import config_differences

    free = resume_may_differ()
    saved = {"train": {"lr": 0.001, "epochs": 2, "figures_every": 5, "distributed": {"batch_scope": "global"}},
             "model": {"shared_mlp": "conv1d", "dropout": 0.3}, "eval": {"votes": 1}}
    now = {"train": {"lr": 0.001, "epochs": 4, "figures_every": 1, "distributed": {"batch_scope": "per_rank"}},
           "model": {"shared_mlp": "linear", "dropout": 0.3}, "eval": {"votes": 12}}
    assert config_differences(saved, now, free) == []  # length, report, variant keys; eval is not train's
    now["model"]["dropout"] = 0.5
    assert config_differences(saved, now, free) == ["model.dropout: 0.3 -> 0.5"]


def test_a_checkpoint_from_before_the_runtime_group_resumes_with_other_runtime_keys():
    from pointnet.apps.schema import resume_may_differ
    from pointnet.training.state import config_differences

    saved = {"train": {"lr": 0.001, "threads": 1, "device": "auto"}}
    now = {"train": {"lr": 0.001, "threads": None, "device": None}, "runtime": {"threads": 2, "device": "cpu"}}
    assert config_differences(saved, now, resume_may_differ()) == []


def test_an_optuna_sweep_without_a_validation_split_is_refused_before_work(tiny_data, tmp_path):
    result = sweep(tmp_path, "hydra/sweeper=recipe_search", "hydra.sweeper.n_trials=1",
                   *tiny_overrides(tiny_data, "data.val_fraction=0"), ok=False)
    assert result.returncode != 0 and "data.val_fraction" in result.stderr
    assert not list(tmp_path.rglob("*.pt"))


def test_the_variant_sweep_budget_shows_learning(tmp_path):
    """``experiment=variant_sweep`` (conv1d) on the offline set's size it uses (8 shapes per class): the train
    loss falls over the budget instead of rising."""
    from pointnet.apps.train import train
    from pointnet.data import generate_synthetic

    root = tmp_path / "synthetic"
    generate_synthetic(root, seed=0, train_per_class=8, test_per_class=8, progress=False)
    cfg = compose(overrides=["experiment=variant_sweep", f"data.root={root}", "data.generate=false",
                             "data.workers=1", "runtime.threads=1", "train.num_clouds=0"])
    metrics = train(cfg, run_dir=tmp_path / "run")
    losses = [row["train/loss"] for row in json.loads((tmp_path / "run" / "metrics.json").read_text())["history"]]
    assert len(losses) == cfg.train.epochs and losses[-1] < 0.85 * losses[0], losses
    assert all(later < losses[0] for later in losses[1:]), losses
    assert metrics["test/acc"] > 2 / 13  # above chance (13 classes)


def test_hydra_resolvers_read_the_slurm_rank_without_torchrun(monkeypatch):
    from pointnet.apps.launch import rank_suffix, rank_zero_only

    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_PROCID", "1")
    assert rank_zero_only(".hydra") is None and rank_suffix() == "_rank1"
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one task: rank 0 of a plain run
    assert rank_zero_only(".hydra") == ".hydra" and rank_suffix() == ""
