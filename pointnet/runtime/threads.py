"""torch's intra-op thread count, chosen from the machine's load.

On a machine other processes use, torch's intra-op threads wait for each other whenever
one is preempted, so a fixed count of "all cores" collapses (0.27 of the quiet throughput beside one
CPU-bound process on 2 cores). ``ThreadGovernor`` picks the count from the cores the *other*
processes keep busy (``/proc/stat`` minus this process's own CPU time), at start-up and again each
epoch or when steps slow down; an explicit ``runtime.threads`` fixes it instead.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def set_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads (None keeps torch's default); returns the count in force."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def cpu_seconds() -> tuple[float, float] | None:
    """``(busy CPU seconds of the whole machine, this process's CPU seconds)`` so far, or None off Linux.

    Busy is every ``/proc/stat`` column but idle and iowait, summed over cores; this process's time
    is user + system of all its threads (``os.times``).
    """
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)
    own = os.times()
    return busy / tick, own.user + own.system


def threads_for(cores: int, others_busy: float) -> int:
    """Threads that leave the cores the other processes use: ``cores - round(others_busy)``, >= 1."""
    return max(1, min(cores, cores - int(others_busy + 0.5)))


class ThreadGovernor:
    """Chooses torch's intra-op thread count from the machine's load; ``fixed`` overrides it.

    ``start()`` samples the load for ``window_s`` and sets the count; ``update()`` (each epoch)
    re-decides from the load since the last decision; ``observe_step()`` (after each step)
    re-decides from the last step's load when that step took over ``slowdown`` x the fastest step
    seen at the current count (someone took a core), and from the load since the last decision
    every ``check_every`` steps (someone may have left). Off Linux, or with ``fixed``, the count
    never changes after ``start()``. ``history`` keeps ``(others' busy cores, threads)`` per decision.
    """

    def __init__(self, fixed: int | None = None, cores: int | None = None, window_s: float = 0.25,
                 slowdown: float = 1.6, check_every: int = 50) -> None:
        self.fixed, self.cores = fixed, cores or os.cpu_count() or 1
        self.window_s, self.slowdown, self.check_every = window_s, slowdown, check_every
        self.history: list[tuple[float, int]] = []
        self._decided = self._step = _LoadMark.now()
        self._fastest, self._steps = float("inf"), 0

    def start(self) -> int:
        """Set the starting count (``fixed``, else from a ``window_s`` sample of the load)."""
        if self.fixed is not None:
            return set_threads(self.fixed)
        self._decided = _LoadMark.now()
        time.sleep(self.window_s)
        return self.update()

    def update(self, since: _LoadMark | None = None) -> int:
        """Re-decide from the load since ``since`` (default: the last decision); the count in force."""
        if self.fixed is not None:
            return torch.get_num_threads()
        now = _LoadMark.now()
        others = now.others_busy(since or self._decided)
        self._decided = self._step = now
        self._fastest, self._steps = float("inf"), 0
        if others is None:
            return torch.get_num_threads()
        threads, current = threads_for(self.cores, others), torch.get_num_threads()
        self.history.append((others, threads))
        if threads == current:
            return threads
        log.info("threads %d -> %d: other processes keep %.1f of %d cores busy (runtime.threads fixes the count)",
                 current, threads, others, self.cores)
        return set_threads(threads)

    def observe_step(self) -> int:
        """Call after each training step; re-decides when steps slow down, or every ``check_every``."""
        previous, self._step = self._step, _LoadMark.now()
        seconds = self._step.wall - previous.wall
        self._steps += 1
        if self.fixed is None and self._steps > 2 and seconds > self.slowdown * self._fastest:
            return self.update(since=previous)
        if self._steps > 1:  # the first step after a decision may include loading or warm-up
            self._fastest = min(self._fastest, seconds)
        if self.fixed is None and self._steps >= self.check_every:
            return self.update()
        return torch.get_num_threads()


@dataclass(frozen=True)
class _LoadMark:
    """One reading: wall clock and ``cpu_seconds()`` (None off Linux)."""

    wall: float
    cpu: tuple[float, float] | None

    @classmethod
    def now(cls) -> _LoadMark:
        return cls(time.perf_counter(), cpu_seconds())

    def others_busy(self, earlier: _LoadMark) -> float | None:
        """Cores the other processes kept busy between ``earlier`` and this reading."""
        if self.cpu is None or earlier.cpu is None:
            return None
        busy, own = self.cpu[0] - earlier.cpu[0], self.cpu[1] - earlier.cpu[1]
        return max(0.0, (busy - own) / max(self.wall - earlier.wall, 1e-3))
