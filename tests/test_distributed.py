"""DistributedDataParallel under torchrun on CPU (gloo, 127.0.0.1): outputs, exact evaluation, gradients, failures.

Spawned workers import this module: the heavy training modules are imported inside the tests that need them.
"""
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from pointnet.apps.config import ConfigError
from pointnet.apps.launch import launch_timestamp, rank_suffix, rank_zero_only
from pointnet.nn.model import PointNet
from pointnet.runtime.process import process_start_time
from pointnet.training import distributed as dist
from pointnet.training.batching import EpochBatchSampler, make_loader, split_batch
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.stop import Stopped
from tests.helpers import compose, free_port, tiny_overrides

BIN = Path(sys.executable).parent
WORKER_ENV = {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


@pytest.fixture(scope="module")
def ddp_run(tiny_data, tmp_path_factory):
    """A 2-rank torchrun run of ``python -m pointnet.apps.train`` with Hydra's default run dir."""
    cwd = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, **WORKER_ENV}
    command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "pointnet.apps.train",
               *tiny_overrides(tiny_data, "train.batch_size=8")]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return cwd, result


def test_two_ranks_write_one_run_dir_from_rank_zero(ddp_run):
    cwd, result = ddp_run
    run_dirs = [p for p in (cwd / "outputs").glob("*/*") if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    run = run_dirs[0]
    assert [p.relative_to(cwd) for p in cwd.rglob(".hydra")] == [run.relative_to(cwd) / ".hydra"]
    assert (run / "train.log").is_file() and (run / "train_rank1.log").is_file()
    assert "rank 1 of 2" in (run / "train_rank1.log").read_text()
    assert "rank 1 of 2" not in (run / "train.log").read_text() and "rank 1 of 2" not in result.stdout
    events = list(run.rglob("events.out.tfevents.*"))
    assert events and all(e.parent == run / "tensorboard" for e in events)
    assert len({e.name.split(".")[-2] for e in events}) == 1  # one writing process (the pid in the name)
    assert sorted(p.name for p in run.glob("*.pt")) == ["best.pt", "last.pt"]


def test_distributed_test_metrics_equal_a_single_process_evaluation(ddp_run, tmp_path, tiny_data):
    from pointnet.apps.evaluate import evaluate_checkpoint

    run = next((ddp_run[0] / "outputs").glob("*/*"))
    saved = json.loads((run / "metrics.json").read_text())
    single = evaluate_checkpoint(compose("eval", [f"checkpoint={run / 'last.pt'}", "runtime.threads=1"]), tmp_path,
                                 overrides=[])
    n_test = sum(1 for _ in Path(tiny_data).glob("*/test/*.off"))
    assert saved["test/shapes"] == single["shapes"] == n_test  # every test shape once, none padded
    assert saved["test/confusion"] == single["confusion"]
    assert saved["test/acc"] == single["acc"] and saved["test/mean_class_acc"] == single["mean_class_acc"]


def test_ddp_checkpoint_has_no_module_prefix_and_loads_into_any_variant(ddp_run):
    run = next((ddp_run[0] / "outputs").glob("*/*"))
    state = load_checkpoint(run / "last.pt")
    assert not [k for k in state["model"] if k.startswith("module.")]
    assert state["progress"]["world_size"] == 2 and state["progress"]["global_batch"] == 8
    for variant in ("loop", "linear"):
        PointNet(**{**state["model_args"], "shared_mlp": variant}).load_state_dict(state["model"], strict=True)


def test_single_process_resumes_a_two_rank_checkpoint(ddp_run, tiny_data, tmp_path):
    from pointnet.apps.train import train

    run = next((ddp_run[0] / "outputs").glob("*/*"))
    out = tmp_path / "outputs" / "day" / "more"
    out.mkdir(parents=True)
    resumed = tmp_path / "copy"
    resumed.mkdir()
    (resumed / "last.pt").write_bytes((run / "last.pt").read_bytes())
    cfg = compose(overrides=tiny_overrides(tiny_data, "train.batch_size=8", "train.epochs=3", f"resume={resumed}"))
    train(cfg, run_dir=out)
    state = load_checkpoint(resumed / "last.pt")
    assert state["progress"]["epoch"] == 3 and state["progress"]["world_size"] == 1
    assert [r["epoch"] for r in state["progress"]["history"]] == [1, 2, 3]


# --- one DDP step against one single-process step -------------------------------------------------------


def frozen_batchnorm_model() -> PointNet:
    """A PointNet whose BatchNorm layers stay in eval mode (per-sample), without dropout."""
    torch.manual_seed(0)
    model = PointNet(num_classes=5, dropout=0.0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train = types.MethodType(lambda self, mode=True: nn.Module.train(self, False), m)
    return model


def step_data() -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(16, 32, 3, generator=g), torch.randint(0, 5, (16,), generator=g))


def one_step(model: nn.Module, trained: nn.Module, batch_size: int, **shard) -> None:
    from pointnet.training.epoch import Trainer
    from pointnet.training.settings import TrainSettings

    first = next(iter(make_loader(step_data(), batch_size, train=True, seed=3, **shard)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    Trainer(trained, optimizer, TrainSettings(reg_weight=0.001), torch.device("cpu")).epoch([first], show_progress=False)


def torchrun_env(rank: int, world: int, port: int) -> None:
    """The variables torchrun would set for ``rank``."""
    os.environ.update(WORKER_ENV, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def step_worker(rank: int, world: int, port: int, out: str, timeout_s: float) -> None:
    """One DDP step, saved; then rank 1 stops answering and rank 0 reports how its next collective ended."""
    torchrun_env(rank, world, port)
    torch.set_num_threads(1)
    with dist.process_group(dist.placement_from_env(), "gloo", timeout_s=timeout_s):
        model = frozen_batchnorm_model()
        one_step(model, dist.data_parallel(model, torch.device("cpu")), 8 // world, num_replicas=world, rank=rank)
        torch.save(model.state_dict(), Path(out) / f"rank{rank}.pt")
        dist.barrier()
        if rank == 1:
            time.sleep(120)
        start = time.perf_counter()
        try:
            dist.any_rank(True)
            report = {"error": None}
        except Exception as exc:
            report = {"error": str(dist.peer_failure(exc, timeout_s)), "seconds": time.perf_counter() - start}
        (Path(out) / "hang.json").write_text(json.dumps(report))


def spawn(target, world: int, *args) -> list[multiprocessing.Process]:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=(rank, world, *args)) for rank in range(world)]
    for p in procs:
        p.start()
    return procs


def test_one_ddp_step_equals_one_single_process_step_and_a_hung_rank_times_out(tmp_path):
    timeout_s = 6
    procs = spawn(step_worker, 2, free_port(), str(tmp_path), timeout_s)
    model = frozen_batchnorm_model()
    one_step(model, model, 8)
    procs[0].join(120)
    procs[1].kill()
    assert procs[0].exitcode == 0
    hang = json.loads((tmp_path / "hang.json").read_text())
    assert "rank 0 of 2: a collective failed" in hang["error"] and "timeout_s=6" in hang["error"], hang
    assert timeout_s - 1 < hang["seconds"] < timeout_s + 10
    expected, initial = model.state_dict(), frozen_batchnorm_model().state_dict()
    assert not torch.equal(expected["classifier.weight"], initial["classifier.weight"])  # the step moved it
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for k in expected:
            torch.testing.assert_close(got[k], expected[k], rtol=1e-5, atol=1e-6, msg=f"rank {rank}: {k}")


# --- a rank that dies ----------------------------------------------------------------------------------


def dying_worker(rank: int, world: int, port: int, cfg, run_dir: str) -> None:
    """Train ``cfg``; rank 1 exits at its first step of epoch 2."""
    import pointnet.apps.train as train_module
    from pointnet.training.epoch import Trainer

    torchrun_env(rank, world, port)
    original, epochs = Trainer.epoch, []

    def failing(self, *args, **kwargs):
        epochs.append(1)
        step = self.step

        def dying(*a, **k):
            if len(epochs) == 2:
                (Path(run_dir) / "lost").write_text(str(time.time()))
                os._exit(3)
            step(*a, **k)
        self.step = dying
        return original(self, *args, **kwargs)

    if rank == 1:
        Trainer.epoch = failing
    try:
        train_module.train(cfg, run_dir=run_dir)
        report = {"error": None}
    except Exception as exc:
        report = {"error": type(exc).__name__, "message": str(exc), "at": time.time()}
    (Path(run_dir) / f"report{rank}.json").write_text(json.dumps(report))


def test_a_dead_rank_ends_the_others_with_a_clear_error_and_an_intact_checkpoint(tiny_data, tmp_path):
    timeout_s = 8
    cfg = compose(overrides=tiny_overrides(tiny_data, "train.batch_size=8", f"train.distributed.timeout_s={timeout_s}"))
    procs = spawn(dying_worker, 2, free_port(), cfg, str(tmp_path))
    procs[0].join(120)
    for p in procs[1:]:
        p.kill()
        p.join()
    assert procs[0].exitcode == 0
    report = json.loads((tmp_path / "report0.json").read_text())
    assert report["error"] == "PeerFailure", report
    assert "train.distributed.timeout_s=8" in report["message"] and "rank 0 of 2" in report["message"]
    assert report["at"] - float((tmp_path / "lost").read_text()) < timeout_s + 10
    state = load_checkpoint(tmp_path / "last.pt")  # weights_only=True: intact, from the end of epoch 1
    assert state["progress"]["epoch"] == 1
    assert not list(tmp_path.glob(".last.pt.*"))


# --- cheap checks, no processes ------------------------------------------------------------------------


@pytest.mark.parametrize("raised, torn_down", [
    (None, True),
    (lambda: Stopped(15, Path("last.pt")), True),
    (lambda: ValueError("a bad file on this rank"), True),
    (lambda: dist.PeerFailure("rank 1 stopped answering"), False),
    (lambda: dist.CollectiveError("all_reduce: connection closed by peer"), False),
], ids=["finished", "stopped by a signal", "an error on this rank", "a lost peer", "a failed collective"])
def test_a_broken_group_is_left_to_the_ending_process_and_any_other_is_torn_down(raised, torn_down):
    """Tearing down a group whose peer is lost can hang or abort (a SIGABRT seen once in this suite)."""
    placement = dist.Placement(rank=0, world_size=1, launched=True, master_addr="127.0.0.1", master_port=free_port())
    error = raised() if raised else None
    try:
        with pytest.raises(type(error)) if error else contextlib.nullcontext():
            with dist.process_group(placement, "gloo", timeout_s=30):
                assert torch.distributed.is_initialized()
                if error:
                    raise error
        assert torch.distributed.is_initialized() is not torn_down
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_sync_batchnorm_on_cpu_is_refused_before_work_naming_the_key(tiny_data, tmp_path):
    from pointnet.apps.train import train

    cfg = compose(overrides=tiny_overrides(tiny_data, "train.distributed.sync_batchnorm=true"))
    with pytest.raises(ConfigError, match="^train.distributed.sync_batchnorm: .*nccl"):
        train(cfg, run_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_global_batch_that_does_not_split_is_refused_naming_the_key(tiny_data, tmp_path, monkeypatch):
    from pointnet.apps.train import train

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    cfg = compose(overrides=tiny_overrides(tiny_data, "train.batch_size=8"))
    with pytest.raises(ConfigError, match="^train.batch_size: the global batch 8 does not split evenly over 3"):
        train(cfg, run_dir=tmp_path)
    assert split_batch(8, 3, "per_rank") == (8, 24) and split_batch(8, 2, "global") == (4, 8)
    with pytest.raises(ConfigError, match="^train.distributed.backend"):
        dist.resolve_backend("nccl", torch.device("cpu"))


def test_torchrun_shows_a_refused_key_as_the_root_cause(tiny_data, tmp_path):
    """A rank's one-line refusal reaches torchrun's failure summary (its error file), not a link to docs."""
    command = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "pointnet.apps.train",
               *tiny_overrides(tiny_data, "train.batch_size=7")]
    result = subprocess.run(command, cwd=tmp_path, env={**os.environ, **WORKER_ENV}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "Root Cause" in result.stderr, result.stderr[-3000:]
    root_cause = result.stderr.split("Root Cause")[1]
    assert "traceback : train.batch_size: the global batch 7 does not split evenly over 2 ranks" in root_cause
    assert "To enable traceback" not in result.stderr
    assert not list(tmp_path.glob("outputs/*/*/*.pt"))


def test_shards_partition_evaluation_and_rebuild_the_global_training_batch():
    data = list(range(11))
    exact = [list(EpochBatchSampler(data, 2, shuffle=False, drop_last=False, seed=0, num_replicas=3, rank=r,
                                    exact=True)) for r in range(3)]
    assert sorted(i for shard in exact for batch in shard for i in batch) == data  # once each, no padding
    single = list(EpochBatchSampler(data, 6, shuffle=True, drop_last=True, seed=5))
    ranks = [list(EpochBatchSampler(data, 3, shuffle=True, drop_last=True, seed=5, num_replicas=2, rank=r))
             for r in range(2)]
    assert sorted(ranks[0][0] + ranks[1][0]) == sorted(single[0])


def test_hydra_resolvers_agree_across_ranks(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert rank_zero_only(".hydra") is None and rank_suffix() == "_rank1"
    monkeypatch.setenv("RANK", "0")
    assert rank_zero_only(".hydra") == ".hydra" and rank_suffix() == ""
    parent = os.getppid()
    started = process_start_time(parent)
    assert started is not None and started <= time.time()
    assert launch_timestamp({"TORCHELASTIC_RUN_ID": "x"}, parent) == started  # the agent's start: same in all ranks
    assert abs(launch_timestamp({}, parent) - time.time()) < 5  # no torchrun: now, like Hydra's ${now:}
