"""torchrun with 2 ranks: SIGTERM to the agent, and kill -9 of one rank. The survivors stop within the
collective timeout and the last checkpoint loads."""
import os
import signal
import time
from pathlib import Path

from tests.faults import runner
from tests.helpers import free_port

TIMEOUT_S = 10


def torchrun(data, run_dir, *extra):
    return [str(runner.BIN / "torchrun"), "--nnodes=1", "--nproc_per_node=2", f"--master_port={free_port()}",
            "-m", "pointnet.apps.train",
            *runner.train_args(data, run_dir, "train.epochs=8", "train.batch_size=8",
                               f"train.distributed.timeout_s={TIMEOUT_S}", *extra)]


def worker_pids(agent: int) -> dict[int, int]:
    """``{rank: pid}`` of the agent's worker processes (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == agent:
            rank = [v for v in environ if v.startswith(b"RANK=")]
            if rank:
                found[int(rank[0][5:])] = int(entry.name)
    return found


def wait_for_file(path: Path, p: runner.Process, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.proc.poll() is None:
        if path.is_file():
            return True
        time.sleep(0.05)
    return path.is_file()


def test_sigterm_to_the_torchrun_agent_stops_both_ranks_with_a_checkpoint(tiny_data, tmp_path, fault_log):
    run_dir = tmp_path / "run"
    p = runner.Process(torchrun(tiny_data, run_dir), tmp_path)
    assert wait_for_file(run_dir / "last.pt", p), p.output[-3000:]
    time.sleep(0.3)
    sent = time.monotonic()
    p.signal(signal.SIGTERM)
    code = p.wait(120)
    took = time.monotonic() - sent
    bad = runner.unreadable_checkpoints(run_dir)
    ok = code != 0 and took < TIMEOUT_S + 30 and not bad and runner.progress(run_dir) is not None
    fault_log("torchrun: SIGTERM to the agent", survived=ok, data_lost=bool(bad), seconds=round(took, 1), code=code)
    assert ok, (code, took, bad, p.output[-3000:])
    assert "interrupted: saved" in p.output  # rank 0 stopped at a step boundary and saved
    stub = tmp_path / "resumed"
    code, output = runner.run(torchrun(tiny_data, stub, f"resume={run_dir}"), tmp_path)
    assert code == 0, output[-3000:]
    assert runner.progress(run_dir)[:2] == (8, 0) and not stub.exists()  # both ranks' logs moved into run_dir
    assert "resumed from" in (run_dir / "train.log").read_text() and (run_dir / "train_rank1.log").is_file()


def test_kill_9_of_one_rank_ends_the_survivor_within_the_timeout(tiny_data, tmp_path, fault_log):
    run_dir = tmp_path / "run"
    p = runner.Process(torchrun(tiny_data, run_dir), tmp_path)
    assert wait_for_file(run_dir / "last.pt", p), p.output[-3000:]
    workers = worker_pids(p.proc.pid)
    assert sorted(workers) == [0, 1], workers
    sent = time.monotonic()
    os.kill(workers[1], signal.SIGKILL)
    code = p.wait(120)
    took = time.monotonic() - sent
    survivor_gone = not Path(f"/proc/{workers[0]}").exists() or "zombie" in Path(f"/proc/{workers[0]}/status").read_text()
    bad = runner.unreadable_checkpoints(run_dir)
    ok = code != 0 and took < TIMEOUT_S + 30 and survivor_gone and not bad and runner.progress(run_dir) is not None
    fault_log("torchrun: kill -9 of one rank", survived=ok, data_lost=bool(bad), seconds=round(took, 1), code=code)
    assert ok, (code, took, bad, p.output[-3000:])
