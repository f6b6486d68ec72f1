"""Where a SLURM task sits, from the variables ``srun`` sets, for runs started without torchrun.

``srun`` (and the submitit launcher, which runs ``srun`` for Hydra) starts one process per task and
gives each ``SLURM_PROCID`` (global rank), ``SLURM_NTASKS`` (world size), ``SLURM_LOCALID`` (rank on its
node) and the job's node list (``SLURM_JOB_NODELIST``, compressed: ``gpu[01-04,07],cpu3``). The
rendezvous is ``MASTER_ADDR``/``MASTER_PORT`` when set (e.g. exported by the launcher's ``setup``),
else the first node of the list and a port derived from the job id, the same in every task.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PORT_BASE, PORT_SPAN = 20000, 20000


@dataclass(frozen=True)
class SlurmTask:
    """One task of a multi-task SLURM step, with the address and port every task of the step meets at."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def first_host(node_list: str) -> str:
    """The first host name of a SLURM node list: ``gpu[07-09,11],cpu1`` -> ``gpu07``."""
    match = re.match(r"([^,\[]*)(?:\[([^\]]*)\])?", node_list.strip())
    if match is None or not (match.group(1) or match.group(2)):
        raise ValueError(f"cannot read the SLURM node list {node_list!r}")
    prefix, ranges = match.group(1), match.group(2)
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def slurm_task(environ: Mapping[str, str]) -> SlurmTask | None:
    """The task's placement when SLURM started several tasks (``SLURM_NTASKS`` > 1), else None.

    One task (a plain ``sbatch`` or ``srun -n1``) is a single-process run like any other.
    """
    if "SLURM_PROCID" not in environ or int(environ.get("SLURM_NTASKS", "1")) <= 1:
        return None
    nodes = environ.get("SLURM_JOB_NODELIST") or environ.get("SLURM_NODELIST") or "127.0.0.1"
    addr = environ.get("MASTER_ADDR") or first_host(nodes)
    if "MASTER_PORT" in environ:
        port = int(environ["MASTER_PORT"])
    else:
        port = PORT_BASE + int(re.sub(r"\D", "", environ.get("SLURM_JOB_ID", "")) or 0) % PORT_SPAN
    return SlurmTask(int(environ["SLURM_PROCID"]), int(environ["SLURM_NTASKS"]),
                     int(environ.get("SLURM_LOCALID", "0")), addr, port)
