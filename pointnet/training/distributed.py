"""Process groups under torchrun: set-up from its environment, tear-down, and the collectives training needs.

torchrun starts one process per rank and gives each ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; ``process_group`` joins that group (``env://``) and leaves it.
Without them, a multi-task SLURM step (``srun``, or Hydra's submitit launcher) is read from SLURM's
own variables (``pointnet.runtime.slurm``). Without either (a plain ``pointnet-train``) nothing here
starts a group and every helper acts as the single rank 0, so callers need no branches of their own.

Every collective runs under the group's timeout: a rank that dies or stops answering makes the
others fail with ``PeerFailure`` (gloo notices a closed connection at once; otherwise the timeout
fires) instead of waiting forever.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pointnet.errors import ConfigError
from pointnet.runtime.slurm import slurm_task
from pointnet.training.metrics import ConfusionMatrix

T = TypeVar("T")
DIST_BACKENDS = ("auto", "gloo", "nccl")


@dataclass(frozen=True)
class Placement:
    """Where this process sits in a torchrun or SLURM launch (rank 0 of 1 without either).

    ``master_addr``/``master_port``: the rendezvous of a SLURM launch; None under torchrun, whose
    ``MASTER_ADDR``/``MASTER_PORT`` the ``env://`` init reads itself.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False
    master_addr: str | None = None
    master_port: int | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


class PeerFailure(RuntimeError):
    """A collective failed or timed out: another rank died or stopped answering."""


class CollectiveError(RuntimeError):
    """One of this module's collectives raised (gloo reports a lost peer as a plain ``RuntimeError``)."""


@contextmanager
def _collective(name: str) -> Iterator[None]:
    """Mark failures inside the block as failed collectives, by where they happened, not by their words."""
    try:
        yield
    except RuntimeError as exc:
        raise CollectiveError(f"{name}: {exc}") from exc


def placement_from_env(environ: Mapping[str, str] = os.environ) -> Placement:
    """Read torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, else SLURM's ``SLURM_PROCID``/``SLURM_NTASKS``/
    ``SLURM_LOCALID``; a plain launch is rank 0 of 1."""
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        task = slurm_task(environ)
        if task is None:
            return Placement()
        return Placement(task.rank, task.world_size, task.local_rank, True, task.master_addr, task.master_port)
    return Placement(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ.get("LOCAL_RANK", 0)), True)


def resolve_backend(name: str, device: torch.device) -> str:
    """``auto`` is nccl for CUDA devices and gloo otherwise; nccl without CUDA is refused."""
    if name not in DIST_BACKENDS:
        raise ConfigError("train.distributed.backend", f"unknown value {name!r}; choose one of {list(DIST_BACKENDS)}")
    if name == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    if name == "nccl" and device.type != "cuda":
        raise ConfigError("train.distributed.backend", f"nccl needs CUDA devices, the run uses {device}; use gloo")
    return name


def rank_device(device: torch.device, placement: Placement) -> torch.device:
    """One GPU per local rank (``cuda:LOCAL_RANK``) under torchrun; CPU and plain runs are unchanged."""
    if device.type != "cuda" or not placement.launched:
        return device
    torch.cuda.set_device(placement.local_rank)
    return torch.device("cuda", placement.local_rank)


def check_sync_batchnorm(enabled: bool, backend: str) -> None:
    """SyncBatchNorm gathers statistics with CUDA collectives: refuse it on gloo (CPU) before any work."""
    if enabled and backend != "nccl":
        raise ConfigError("train.distributed.sync_batchnorm",
                          f"SyncBatchNorm needs CUDA devices and the nccl backend, this run uses {backend}; "
                          "set it to false (BatchNorm statistics are then per rank)")


@contextmanager
def process_group(placement: Placement, backend: str, timeout_s: float) -> Iterator[Placement]:
    """Join torchrun's process group for the ``with`` block and leave it after (no-op without torchrun).

    ``timeout_s`` bounds every collective, so a lost peer ends the run with an error instead of a hang.
    The group is torn down on the way out, except after a lost peer or a failed collective: the other ranks
    may then be gone or still inside a collective, and tearing the group down can hang or abort the process
    (as torchtitan found, pytorch/torchtitan#1342); the process is ending anyway.
    """
    if not placement.launched or dist.is_initialized():
        yield placement
        return
    init = f"tcp://{placement.master_addr}:{placement.master_port}" if placement.master_addr else "env://"
    dist.init_process_group(backend, init_method=init, rank=placement.rank, world_size=placement.world_size,
                            timeout=timedelta(seconds=timeout_s))
    with _torn_down(dist.destroy_process_group):
        yield placement


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def _comm_device() -> torch.device:
    """Where collective tensors must live: the current GPU for nccl, CPU for gloo."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    if active():
        with _collective("barrier"):
            dist.barrier()


@contextmanager
def main_first(timeout_s: float) -> Iterator[None]:
    """Run the block (e.g. prepare a data cache) on rank 0 first, then on the first rank of each other
    node, then on the rest, so no two ranks prepare the same folder at once; later turns find the cache.

    Turns are separated by barriers of their own ``timeout_s``: preparing a data set can take far
    longer than a training step.
    """
    if not active():
        yield
        return
    turn = 0 if is_main() else 1 if placement_from_env().local_rank == 0 else 2
    group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
    with _torn_down(lambda: dist.destroy_process_group(group)):
        for _ in range(turn):
            with _collective("barrier"):
                dist.barrier(group=group)
        yield
        for _ in range(2 - turn):
            with _collective("barrier"):
                dist.barrier(group=group)


@contextmanager
def _torn_down(destroy: Callable[[], None]) -> Iterator[None]:
    """Call ``destroy`` after the block, unless it failed with a broken group (a lost peer, a failed
    collective), which is left to the ending process."""
    try:
        yield
    except (PeerFailure, CollectiveError, dist.DistError):
        raise
    except BaseException:
        _destroy_quietly(destroy)
        raise
    _destroy_quietly(destroy)


def _destroy_quietly(destroy: Callable[[], None]) -> None:
    try:
        destroy()
    except Exception:  # a group that cannot be torn down is left to the ending process
        pass


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of ``values`` over the ranks (a copy, on the input's device)."""
    if not active():
        return values.clone()
    total = values.detach().to(_comm_device(), copy=True)
    with _collective("all_reduce"):
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(values.device)


def all_reduce_confusion(cm: ConfusionMatrix) -> ConfusionMatrix:
    """The confusion counts and summed loss of every rank's shard, as one matrix on every rank."""
    if not active():
        return cm
    loss = all_reduce_sum(torch.tensor([cm.loss_sum], dtype=torch.float64))
    return ConfusionMatrix(all_reduce_sum(cm.matrix), float(loss[0]))


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is set on any rank, so all ranks take the same branch (e.g. stop at one step)."""
    if not active():
        return flag
    return bool(all_reduce_sum(torch.tensor([int(flag)]))[0] > 0)


def broadcast_object(value: T | None) -> T:
    """Rank 0's ``value`` on every rank (other ranks pass None)."""
    if not active():
        return value  # type: ignore[return-value]
    box = [value]
    with _collective("broadcast_object_list"):
        dist.broadcast_object_list(box, src=0, device=_comm_device())
    return box[0]  # type: ignore[return-value]


def on_main(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on rank 0 only and give every rank its result, or raise its exception everywhere."""
    outcome: tuple[bool, Any] | None = None
    if is_main():
        try:
            outcome = (True, fn(*args))
        except Exception as exc:
            outcome = (False, exc)
    if active():
        outcome = broadcast_object(outcome)
    ok, value = outcome  # type: ignore[misc]
    if not ok:
        raise value
    return value


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers (e.g. BatchNorm running statistics) to every rank."""
    if not active():
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            comm = tensor.detach().to(_comm_device())
            with _collective("broadcast"):
                dist.broadcast(comm, src=0)
            tensor.copy_(comm)


def use_sync_batchnorm(model: nn.Module) -> None:
    """Turn ``model``'s BatchNorm layers into SyncBatchNorm in place (same parameters, same state_dict keys)."""
    for name, child in list(model.named_children()):
        setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when a group is active (else ``model`` itself).

    The wrapper shares the parameters of ``model``: keep ``model`` for ``state_dict`` (no ``module.``
    prefix) and evaluation.
    """
    if not active():
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def group_broken(timeout_s: float) -> bool:
    """Whether some rank no longer answers: a gloo ``monitored_barrier`` fails (at once for a dead peer).

    Used after an error that did not come from this module's collectives (DDP's gradient all-reduce
    runs inside ``backward``); nccl reports its failures as ``DistError`` instead.
    """
    if dist.get_backend() != "gloo":
        return False
    try:
        dist.monitored_barrier(timeout=timedelta(seconds=timeout_s))
    except RuntimeError:
        return True
    return False


def peer_failure(exc: BaseException, timeout_s: float) -> PeerFailure | None:
    """A ``PeerFailure`` describing ``exc`` if a peer was lost (failed collective, timeout), else None.

    Decided by type (``CollectiveError``, torch's ``DistError``) or, for other errors, by probing
    whether every rank still answers.
    """
    if not active():
        return None
    lost = isinstance(exc, (CollectiveError, dist.DistError)) or group_broken(min(timeout_s, 10.0))
    if not lost:
        return None
    text = str(exc)
    return PeerFailure(f"rank {rank()} of {world_size()}: a collective failed ({type(exc).__name__}: "
                       f"{text.splitlines()[0] if text else ''}); another rank probably died or stopped "
                       f"answering (collectives wait at most train.distributed.timeout_s={timeout_s:g} s); "
                       "see the other ranks' logs")
