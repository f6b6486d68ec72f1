"""OpenMP waiting policy for the console entry points, set before torch loads its runtime.

torch's CPU wheels run their intra-op pool on GNU OpenMP (``libgomp``). By default an idle pool
thread spins for a while before it sleeps, and every parallel region waits for its slowest thread.
On a machine where another process holds a core, the spinning threads burn the time the
preempted one needs, so a 2-thread step ran ~7x slower instead of ~2x (see the README's
Performance section). Passive waiting makes idle threads sleep at once.

libgomp reads these variables once, when it is loaded (``import torch``), so they must be in the
environment before that: the console scripts go through ``pointnet.apps.entry`` (which imports no
torch), and ``python -m pointnet.apps.<app>`` calls ``quiet_openmp`` as the first statement of the
app module when it runs as ``__main__``. A value the user set is kept. Nothing happens at import.
"""
from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

PASSIVE = {
    "OMP_WAIT_POLICY": "PASSIVE",  # libgomp and Intel's runtime: sleep instead of spinning when idle
    "KMP_BLOCKTIME": "0",  # Intel OpenMP (other builds): the same, in its own variable
}


def openmp_settings(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Put the passive-waiting variables into ``environ`` where unset; returns the ones added."""
    added = {k: v for k, v in PASSIVE.items() if k not in environ}
    environ.update(added)
    return added


def quiet_openmp() -> bool:
    """Set passive OpenMP waiting in this process's environment, if torch is not loaded yet.

    Returns whether the settings can still take effect (False once ``torch`` is imported: its
    OpenMP runtime has read the environment already). ``POINTNET_OPENMP=spin`` leaves the runtime's
    default (for the benchmark's comparison of the two).
    """
    if os.environ.get("POINTNET_OPENMP") == "spin":
        return False
    if "torch" in sys.modules:
        return False
    openmp_settings(os.environ)
    return True
