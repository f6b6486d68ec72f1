"""When a process started: the one clock that a run's wall time and a launch's run dir are read from."""
from __future__ import annotations

import os
from pathlib import Path


def process_start_time(pid: int | str = "self") -> float | None:
    """Start time of process ``pid`` (default: this one) in seconds since the epoch, from Linux ``/proc``
    (None elsewhere): the boot time plus the process's start in clock ticks after boot, so every process
    that reads it for the same ``pid`` gets the same value."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
