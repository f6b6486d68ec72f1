"""Checkpoints: written atomically, holding plain types only, checksummed, loaded with ``weights_only=True``.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts: the model's ``state_dict``
(variant-agnostic, see ``pointnet.nn.shared_mlp``), optimiser and scheduler states, RNG states, the
resolved config as a plain container, and progress counters. With ``train.ema_decay`` the ``model`` is the
moving average of the weights (what eval, predict and export load) and ``trained_model`` the trained
weights a resume continues from. No pickled classes, so
``torch.load(..., weights_only=True)`` reads it and a checkpoint can never run code.

Since format 2 a checkpoint also holds ``checksum``: a SHA-256 over its content (every tensor's bytes,
every key and value), recomputed on load, so a flipped bit is refused instead of training on. Format 1
checkpoints (no checksum) still load. Every failure to read one is a ``CheckpointError`` naming the
file, the reason and what to do; a full disk while writing is a ``CheckpointWriteError`` (ENOSPC),
and the previous checkpoint stays as it was.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pointnet.data.atomic import atomic_write

FORMAT_VERSION = 2
ADVICE = "use another checkpoint (best.pt, or last.pt of an earlier run) or start a new run"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; ``str()`` is one line naming the file, the reason and what to do."""

    def __init__(self, path: str | os.PathLike, reason: str, advice: str = ADVICE) -> None:
        super().__init__(f"checkpoint {path}: {reason}; {advice}")
        self.path, self.reason = Path(path), reason


class CheckpointWriteError(OSError):
    """A checkpoint that could not be written (disk full, read-only folder); the previous one is intact."""


def _digest(value: Any, h: hashlib._Hash) -> None:
    """Feed ``value`` (nested dicts, lists, tensors, scalars) into ``h`` in a fixed order."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            h.update(f"K{key!r}".encode())
            _digest(value[key], h)
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for item in value:
            _digest(item, h)
    else:
        h.update(f"V{type(value).__name__}:{value!r}".encode())


def checksum(state: dict[str, Any]) -> str:
    """Hex SHA-256 of ``state``'s content, ignoring its ``checksum`` entry."""
    h = hashlib.sha256()
    _digest({k: v for k, v in state.items() if k != "checksum"}, h)
    return h.hexdigest()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` (with format version and checksum) to ``path`` atomically.

    The bytes are serialised in memory first, then written to a temporary file, fsynced and renamed:
    a crash or a full disk mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    full = {"format_version": FORMAT_VERSION, **state}
    full["checksum"] = checksum(full)
    buffer = io.BytesIO()
    torch.save(full, buffer)
    try:
        atomic_write(path, lambda file: file.write(buffer.getbuffer()))
    except OSError as exc:
        reason = "no space left on device (ENOSPC)" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise CheckpointWriteError(exc.errno, f"cannot write checkpoint {path}: {reason}; the previous "
                                   "checkpoint there is intact; free space (or fix the folder) and resume") from exc
    return path


def _read(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load(weights_only=True)``, its failures as ``CheckpointError`` with a one-line reason."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(path, "the file is empty (0 bytes), probably an interrupted copy")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if first.startswith("Weights only load failed"):
            reason = ("refused: it holds objects other than tensors and plain values (a foreign or hostile "
                      "pickle); nothing in it was run")
        else:
            reason = f"not a readable checkpoint ({first[:200]})"
        raise CheckpointError(path, reason) from exc
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "central directory" in first or isinstance(exc, EOFError):
            reason = f"truncated or not a checkpoint file ({size} bytes)"
        else:
            reason = f"corrupt ({type(exc).__name__}: {first[:200]})"
        raise CheckpointError(path, reason) from exc
    except OSError as exc:
        raise CheckpointError(path, f"cannot read it ({exc.strerror or exc})",
                              "check the path and its permissions") from exc


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint; any problem is a ``CheckpointError`` naming ``path``."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(path, "this is a folder", f"give a file in it ({path / 'last.pt'} or best.pt)")
    if not path.is_file():
        raise CheckpointError(path, "no such file", "check the path (a run dir holds last.pt and best.pt)")
    state = _read(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(path, "not a pointnet checkpoint (no 'model' entry)")
    if "checksum" in state and state["checksum"] != checksum(state):
        raise CheckpointError(path, "checksum mismatch: the file was damaged after it was written (bit flip, "
                              "bad copy)")
    return state


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """``model.load_state_dict(weights, strict=True)``; weights of another shape (class count, input
    width) or with other names are a ``CheckpointError`` naming ``path`` and the first mismatch."""
    try:
        model.load_state_dict(weights, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        raise CheckpointError(path, f"its weights do not fit the model ({detail[:300]})",
                              "use a checkpoint of this model and data (class count, input width)") from exc


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch generator states, as tensors and plain types (weights_only-safe)."""
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # legacy=True, the default
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [py_version, list(py_internal), py_gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
