"""How the apps end on an expected failure: one line naming the file and what to do, and an exit code.

Hydra prints a traceback for any exception that leaves the task function; a refused checkpoint or a
full disk is not a bug, so the apps turn these into one logged line and ``SystemExit`` (every app's
``main`` runs under it through ``pointnet.apps.cli.app_main``, which answers a ``ConfigError`` with
exit code 2):

- ``Stopped`` (SIGINT/SIGTERM, state saved): exit 130 / 143, the shell's codes for death by the signal;
- ``CheckpointError`` (unreadable, damaged, foreign or mismatched checkpoint): exit 1;
- ``CheckpointWriteError`` (disk full, ENOSPC; the previous checkpoint intact): exit 1;
- ``NonFiniteLossError`` and ``PeerFailure``: exit 1, with no second line (the training app has logged
  them already, naming the checkpoint to go back to).

Under torchrun the line also goes to the error file torchrun names in ``TORCHELASTIC_ERROR_FILE``
(see :func:`tell_torchrun`), so torchrun's failure summary shows it as the root cause.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pointnet.training.checkpoint import CheckpointError, CheckpointWriteError
from pointnet.training.distributed import PeerFailure
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.stop import Stopped

log = logging.getLogger("pointnet")

FAILED = 1


def tell_torchrun(message: str) -> None:
    """Leave ``message`` in torchrun's error file (no-op outside torchrun).

    torchrun reads the file a failed rank leaves and prints it in its summary; without one it prints
    only a link to its docs. The JSON is the layout torch's ``ErrorHandler.record_exception`` writes,
    with the one line in place of a Python traceback: these failures are the user's to fix, not bugs.
    """
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path:
        info = {"py_callstack": message, "timestamp": str(int(time.time()))}
        Path(path).write_text(json.dumps({"message": {"message": message, "extraInfo": info}}))


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Run the block; expected failures become one ``error:`` line (logged and on stderr) and an exit code."""
    try:
        yield
    except Stopped as exc:
        log.warning("%s", exc)
        raise SystemExit(exc.exit_code) from None
    except (CheckpointError, CheckpointWriteError) as exc:
        log.error("%s", exc)
        tell_torchrun(str(exc))
        if not logging.getLogger().handlers:  # outside Hydra nothing prints the log
            print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(FAILED) from None
    except (NonFiniteLossError, PeerFailure) as exc:
        tell_torchrun(str(exc))
        raise SystemExit(FAILED) from None
