"""SIGINT/SIGTERM as requests to stop at a safe point, so a saved checkpoint is always consistent.

The first signal sets ``requested``: the loop stops after the step in progress (or after the
epoch's end when validation is running), saves ``last.pt`` and raises ``Stopped``. A second signal
sets ``urgent``: the loop then also abandons a running validation (the epoch's end is redone on
resume), which shortens the wait. No signal ever interrupts a step or the writing of a checkpoint.
``Stopped.exit_code`` is the shell's convention for death by that signal: 130 (SIGINT), 143 (SIGTERM).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopAtBoundary(Exception):
    """Raised by the loop itself at a safe point (after a step, between validation batches)."""


class Stopped(Exception):
    """Training stopped on a signal after saving ``checkpoint``; the process should exit with ``exit_code``."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        self.signum, self.checkpoint = signum, checkpoint
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}: saved {checkpoint}; continue with "
                         f"resume={checkpoint.parent}")


class StopRequest:
    """While entered (main thread only), SIGINT and SIGTERM set flags that the loop reads at safe points.

    Re-entrant: the app enters it around the whole run and the loop again around its epochs; the
    previous handlers come back when the outermost ``with`` ends.
    """

    def __init__(self) -> None:
        self.requested = False
        self.urgent = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._depth = 0

    def __enter__(self) -> StopRequest:
        self._depth += 1
        if self._depth == 1:
            for sig in SIGNALS:
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except ValueError:  # not the main thread: keep the default behaviour
                    pass
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        # os.write, not logging: the handler may run while the interrupted code holds a logging lock.
        name = signal.Signals(signum).name
        if self.requested:
            self.urgent = True
            os.write(2, f"\n{name} again: stopping as soon as the state is consistent\n".encode())
            return
        self.requested, self.signum = True, signum
        os.write(2, f"\n{name}: stopping after the current step and saving last.pt\n".encode())
