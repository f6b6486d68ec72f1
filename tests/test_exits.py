"""How the apps end on expected failures: exit codes, and one line instead of a traceback."""
import logging
import signal
from pathlib import Path

import pytest

from pointnet.apps.exits import one_line_errors
from pointnet.errors import ConfigError
from pointnet.training.checkpoint import CheckpointError
from pointnet.training.epoch import NonFiniteLossError
from pointnet.training.stop import Stopped


@pytest.mark.parametrize("error, code", [
    (Stopped(signal.SIGINT, Path("run/last.pt")), 130),
    (Stopped(signal.SIGTERM, Path("run/last.pt")), 143),
    (CheckpointError("run/last.pt", "truncated"), 1),
    (NonFiniteLossError("loss became nan"), 1),
])
def test_expected_failures_become_exit_codes(error, code, caplog):
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as exit_:
        with one_line_errors():
            raise error
    assert exit_.value.code == code
    if not isinstance(error, NonFiniteLossError):  # that one was logged where it happened
        assert [r.getMessage() for r in caplog.records] == [str(error)] and "\n" not in str(error)


def test_other_errors_are_left_alone():
    with pytest.raises(ZeroDivisionError), one_line_errors():
        1 / 0
    with pytest.raises(ConfigError), one_line_errors():  # pointnet.apps.cli.app_main answers it: exit 2
        raise ConfigError("resume", "no last.pt")
