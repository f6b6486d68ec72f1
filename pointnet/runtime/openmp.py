"""OpenMP waiting for the console entry points: a short bounded spin, set before torch loads its runtime.

torch's CPU wheels run their intra-op pool on GNU OpenMP (``libgomp``). By default an idle pool
thread spins 300,000 times before it sleeps, and every parallel region waits for its slowest thread.
On a machine where another process holds a core, the spinning threads burn the time the
preempted one needs: a 2-thread training step ran at 4-7 samples/s instead of ~45 (README,
Performance). Passive waiting (``OMP_WAIT_POLICY=PASSIVE``, 0 spins) fixes that but makes every
parallel region pay a futex wake-up, which at batch 1 (hundreds of small regions) cost 20-70% more
latency. ``GOMP_SPINCOUNT=1000`` keeps both: the spin covers the gap between back-to-back regions
on a quiet machine and is too short to matter beside a competitor (measured in
``benchmarks.load``: ``bounded`` vs ``passive``).

libgomp reads these variables once, when it is loaded (``import torch``), so they must be in the
environment before that: the console scripts go through ``pointnet.apps.entry`` (which imports no
torch), and ``python -m pointnet.apps.<app>`` calls ``quiet_openmp`` as the first statement of the
app module when it runs as ``__main__``. A wait setting the user made is kept. Nothing happens at import.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping

WAIT_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # libgomp: either one decides its spin count
BOUNDED = {
    "GOMP_SPINCOUNT": "1000",  # libgomp: spin this often, then sleep (its default: 300000)
    "KMP_BLOCKTIME": "0",  # Intel OpenMP (other builds): sleep at once (no bounded spin was measured there)
}
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}  # sleep at once: ``benchmarks.load``'s ``passive`` lever
OPENMP_KEYS = (*WAIT_KEYS, "KMP_BLOCKTIME", "POINTNET_OPENMP")


def openmp_settings(environ: MutableMapping[str, str], settings: Mapping[str, str] = BOUNDED) -> dict[str, str]:
    """Put ``settings`` into ``environ`` where the user set nothing of that runtime; returns those added.

    A user's ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` keeps libgomp's choice theirs (a spin count
    added beside ``OMP_WAIT_POLICY=ACTIVE`` would override it).
    """
    user_wait = any(k in environ for k in WAIT_KEYS)
    added = {k: v for k, v in settings.items() if k not in environ and not (user_wait and k in WAIT_KEYS)}
    environ.update(added)
    return added


def wait_label(environ: Mapping[str, str]) -> str:
    """How libgomp will wait, in a few words: ``PASSIVE``, ``1000 spins``, or ``default``."""
    if "OMP_WAIT_POLICY" in environ:
        return environ["OMP_WAIT_POLICY"]
    if "GOMP_SPINCOUNT" in environ:
        return f"{environ['GOMP_SPINCOUNT']} spins"
    return "default"


def quiet_openmp() -> bool:
    """Set the bounded OpenMP spin in this process's environment, if torch is not loaded yet.

    Returns whether the settings can still take effect (False once ``torch`` is imported: its
    OpenMP runtime has read the environment already). ``POINTNET_OPENMP=spin`` leaves the runtime's
    default (for the benchmark's comparison); ``OMP_WAIT_POLICY=PASSIVE`` sleeps at once.
    """
    if os.environ.get("POINTNET_OPENMP") == "spin" or "torch" in sys.modules:
        return False
    openmp_settings(os.environ)
    return True
