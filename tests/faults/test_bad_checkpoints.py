"""Damaged, empty, foreign and hostile checkpoints given to eval, predict and resume (real CLI processes):
each gets exit 1 and one clear line naming the file, never a traceback, and a hostile pickle runs nothing."""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from pointnet.training.checkpoint import load_checkpoint, save_checkpoint
from tests.faults import runner


class Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_bad(kind, good, folder):
    """A checkpoint of ``kind`` in its own folder (so resume's run dir is that folder)."""
    path = folder / kind.replace(" ", "_") / "last.pt"
    path.parent.mkdir(parents=True)
    raw = good.read_bytes()
    state = load_checkpoint(good)
    if kind == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bit flip":
        at = raw.find(state["model"]["classifier.weight"][:4].numpy().tobytes())
        flipped = bytearray(raw)
        flipped[at + 5] ^= 0x04
        path.write_bytes(bytes(flipped))
    elif kind == "another class count":  # a consistent 5-class checkpoint (predict: names of 13 for 5 outputs)
        state["model"]["classifier.weight"] = torch.randn(5, state["model"]["classifier.weight"].shape[1])
        state["model"]["classifier.bias"] = torch.randn(5)
        state["model_args"]["num_classes"] = 5
        state["classes"] = state["classes"][:5]
        save_checkpoint({k: v for k, v in state.items() if k not in ("checksum", "format_version")}, path)
    elif kind == "another input width":  # first layers made for 6 input channels (xyz + normals)
        for key in ("input_tnet.mlp.layers.0.fc.weight", "mlp1.layers.0.fc.weight"):
            state["model"][key] = torch.randn(state["model"][key].shape[0], 6)
        save_checkpoint({k: v for k, v in state.items() if k not in ("checksum", "format_version")}, path)
    elif kind == "hostile pickle":
        torch.save({"model": Hostile(folder / "pwned")}, path)
    return path


KINDS = ("truncated", "bit flip", "empty", "another class count", "another input width", "hostile pickle")


def command(name, bad, data, folder):
    out = folder / "out" / f"{name}-{bad.parent.name}"
    if name == "evaluate":
        return runner.app("evaluate", f"checkpoint={bad}", f"hydra.run.dir={out}", "runtime.threads=1")
    if name == "predict":
        return runner.app("predict", f"checkpoint={bad}", f"files=[{folder / 'cloud.npy'}]", f"hydra.run.dir={out}",
                          "runtime.threads=1")
    return runner.app("train", *runner.train_args(data, out, f"resume={bad}"))


@pytest.mark.parametrize("app", ["evaluate", "predict", "resume"])
def test_bad_checkpoints_get_one_clear_line(app, tiny_data, reference_run, tmp_path, fault_log):
    np.save(tmp_path / "cloud.npy", np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32))
    bad = [make_bad(kind, reference_run[0] / "last.pt", tmp_path) for kind in KINDS]
    if app == "predict":  # predicting with a legitimate 5-class model is fine: make its names disagree
        state = load_checkpoint(bad[3])
        state["classes"] = load_checkpoint(reference_run[0] / "last.pt")["classes"]
        save_checkpoint({k: v for k, v in state.items() if k not in ("checksum", "format_version")}, bad[3])
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda b: runner.run(command(app, b, tiny_data, tmp_path), tmp_path), bad))
    failures = []
    for kind, path, (code, output) in zip(KINDS, bad, results):
        named = [line for line in output.splitlines() if f"checkpoint {path}:" in line]
        ok = code == 1 and "Traceback" not in output and len(named) == 1 and not (tmp_path / "pwned").exists()
        fault_log(f"bad checkpoint for {app}", survived=ok, kind_detail=kind, code=code)
        if not ok:
            failures.append((kind, code, output[-2000:]))
    assert not failures, failures
