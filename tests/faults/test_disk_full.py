"""A full disk while writing a checkpoint (a small tmpfs mounted by the test; skipped where mounting is
forbidden): a clear error naming ENOSPC, and the previous checkpoint intact."""
import subprocess

import pytest
import torch

from pointnet.training.checkpoint import CheckpointWriteError, load_checkpoint, save_checkpoint
from tests.faults import runner


@pytest.fixture
def small_disk(tmp_path, request):
    """``mount(size_bytes) -> folder`` on a fresh tmpfs, unmounted after the test."""
    mounted = []

    def mount(size: int):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_save_checkpoint_on_a_full_disk_names_enospc_and_keeps_the_previous(small_disk, fault_log):
    disk = small_disk(1 << 20)
    save_checkpoint({"model": {"w": torch.ones(1000)}}, disk / "last.pt")
    with pytest.raises(CheckpointWriteError, match=r"no space left on device \(ENOSPC\).*previous checkpoint") as err:
        save_checkpoint({"model": {"w": torch.ones(400_000)}}, disk / "last.pt")
    intact = torch.equal(load_checkpoint(disk / "last.pt")["model"]["w"], torch.ones(1000))
    leftovers = [p.name for p in disk.iterdir() if p.name != "last.pt"]
    fault_log("disk full writing a checkpoint", survived=intact and not leftovers, data_lost=not intact)
    assert intact and not leftovers and str(disk / "last.pt") in str(err.value)


def test_training_onto_a_full_disk_stops_with_one_line_and_an_intact_last_pt(small_disk, tiny_data, reference_run,
                                                                             fault_log):
    size = (reference_run[0] / "last.pt").stat().st_size
    disk = small_disk(int(2.5 * size))  # epoch 1's best.pt and last.pt fit, epoch 2's next file does not
    code, output = runner.run(runner.app("train", *runner.train_args(tiny_data, disk / "run")), disk)
    lines = [line for line in output.splitlines() if "ENOSPC" in line]
    state = load_checkpoint(disk / "run" / "last.pt")
    ok = code == 1 and "Traceback" not in output and len(lines) == 1 and state["progress"]["epoch"] == 1
    fault_log("disk full during training", survived=ok, data_lost=state["progress"]["epoch"] != 1, code=code)
    assert ok, output[-3000:]
    assert not [p.name for p in (disk / "run").iterdir() if ".tmp-" in p.name]
