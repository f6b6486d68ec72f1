"""OmegaConf resolvers that make Hydra's output layout rank-aware under torchrun.

Hydra resolves ``${now:...}`` in each process, so the K ranks of one torchrun launch could land in
K timestamped run dirs, and every rank would write ``.hydra/`` and the same log file. These
resolvers, used by ``configs/train.yaml``, give:

- ``${launch_time:FORMAT}``: the start time of the torchrun agent (the ranks' parent process), the
  same in every rank of one launch on a node; the current time without torchrun, like ``now``.
- ``${rank_zero_only:VALUE}``: ``VALUE`` on rank 0, null elsewhere (``hydra.output_subdir``: only
  rank 0 writes ``.hydra/``).
- ``${rank_suffix:}``: ``""`` on rank 0, ``_rank<R>`` elsewhere (log file names).
- ``${rank_console_level:}``: ``NOTSET`` on rank 0, ``WARNING`` elsewhere, so only rank 0 talks.
- ``${sweep_subdir:${hydra.job.override_dirname},${hydra.job.num}}``: a sweep job's folder named by
  its number and overrides, keys shortened to their last part (``3_shared_mlp=loop,lr=0.01``), so
  TensorBoard's run names tell the jobs apart and no two jobs share a dir.

The rank comes from torchrun's ``RANK`` (or SLURM's ``SLURM_PROCID``), which is set before Hydra starts.
"""
from __future__ import annotations

import datetime
import functools
import os
import time
from collections.abc import Mapping

from omegaconf import OmegaConf

from pointnet.runtime.process import process_start_time
from pointnet.runtime.slurm import slurm_task
from pointnet.training.distributed import placement_from_env

MAX_SUBDIR = 200  # characters; file systems allow 255 bytes per name


def _rank() -> int:
    """torchrun's ``RANK``, else a multi-task SLURM step's ``SLURM_PROCID``, else 0."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    return placement_from_env(os.environ).rank


def launch_timestamp(environ: Mapping[str, str], parent: int) -> float:
    """One moment per launch: the torchrun agent's (``parent``'s) start time in its workers, and the step
    daemon's in the tasks of a multi-task ``srun`` (the same on a node), else now.

    Off Linux (no ``/proc``) torchrun workers fall back to their own clock; pass ``hydra.run.dir`` there.
    """
    if "TORCHELASTIC_RUN_ID" in environ or slurm_task(environ) is not None:
        started = process_start_time(parent)
        if started is not None:
            return started
    return time.time()


@functools.cache
def _this_launch() -> float:
    return launch_timestamp(os.environ, os.getppid())


def launch_time(pattern: str) -> str:
    return datetime.datetime.fromtimestamp(_this_launch()).strftime(pattern)


def rank_zero_only(value: str) -> str | None:
    return value if _rank() == 0 else None


def rank_suffix() -> str:
    return "" if _rank() == 0 else f"_rank{_rank()}"


def rank_console_level() -> str:
    return "NOTSET" if _rank() == 0 else "WARNING"


def short_value(value: str) -> str:
    """A float written with more than 4 significant digits (a sampled one) as 4: ``0.0012520653814999472`` ->
    ``0.001252``; anything else as it is. The job's config keeps the exact value."""
    try:
        number = float(value)
    except ValueError:
        return value
    short = f"{number:.4g}"
    return short if len(short) < len(value) and "." in value else value


def sweep_subdir(override_dirname: str, job_num: int) -> str:
    """``model/shared_mlp=loop,train.lr=0.0012520653`` as job 3 -> ``3_shared_mlp=loop,lr=0.001252``.

    Keys are cut to their last part, sampled values to 4 digits, ``/`` in values becomes ``_`` and keys
    that do not change results are left out (``exclude_keys``), so two jobs can share a name
    (``experiment=modern runtime.threads=1,2``): the leading job number keeps each job in its own dir.
    """
    items = []
    for item in filter(None, str(override_dirname).split(",")):
        key, _, value = item.partition("=")
        items.append(f"{key.replace('/', '.').rsplit('.', 1)[-1]}={short_value(value).replace('/', '_')}")
    name = f"{job_num}_{','.join(items)}" if items else str(job_num)
    return name if len(name) <= MAX_SUBDIR else f"{name[:MAX_SUBDIR]}.."


def register_resolvers() -> None:
    """Register the resolvers (idempotent); the entry points do it before Hydra reads the config."""
    for name, fn, cache in (("launch_time", launch_time, True), ("rank_zero_only", rank_zero_only, False),
                            ("rank_suffix", rank_suffix, False), ("rank_console_level", rank_console_level, False),
                            ("sweep_subdir", sweep_subdir, False)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=cache)
