"""scripts/fault_report.py turns the fault suite's ledger into the README table."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fault_report.py"


def load():
    spec = importlib.util.spec_from_file_location("fault_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_counts_trials_survivals_losses_and_fuzzing_rates(tmp_path, capsys):
    rows = [{"kind": "kill -9", "survived": True, "data_lost": False},
            {"kind": "kill -9", "survived": False, "data_lost": True},
            {"kind": "torchrun", "survived": True, "data_lost": False, "seconds": 3.0},
            {"kind": "mesh fuzzing", "survived": True, "data_lost": False, "cases": 300, "seconds": 2.0},
            {"kind": "mesh fuzzing", "survived": True, "data_lost": False, "cases": 100, "seconds": 2.0}]
    log = tmp_path / "faults.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load().main(["--log", str(log)]) == 1  # data was lost: the report fails
    lines = capsys.readouterr().out.splitlines()
    assert "| kill -9 | 2 | 1 | 1 |  |" in lines
    assert "| torchrun | 1 | 1 | 0 |  |" in lines
    assert "| mesh fuzzing | 2 | 2 | 0 | 400 cases in 4 s (100/s) |" in lines
    assert lines[-1] == "| **all** | 5 | 4 | 1 | |"
