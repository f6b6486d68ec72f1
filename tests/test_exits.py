"""How the apps end on expected failures: exit codes, and one line instead of a traceback."""
import logging
import signal
import time
from pathlib import Path

import pytest
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

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


@pytest.mark.parametrize("error", [CheckpointError("run/last.pt", "truncated"), NonFiniteLossError("loss became nan")])
def test_under_torchrun_the_line_goes_to_its_error_file(error, tmp_path, monkeypatch):
    """torch's own reader of a failed rank's error file gets the one line as the message and traceback."""
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(tmp_path / "error.json"))
    with pytest.raises(SystemExit), one_line_errors():
        raise error
    failure = ProcessFailure(local_rank=0, pid=1, exitcode=1, error_file=str(tmp_path / "error.json"))
    assert failure.message["message"] == str(error) == failure.message["extraInfo"]["py_callstack"]
    assert abs(failure.timestamp - time.time()) < 60


def test_outside_torchrun_no_error_file_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_ERROR_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit), one_line_errors():
        raise CheckpointError("run/last.pt", "truncated")
    assert not list(tmp_path.iterdir())
