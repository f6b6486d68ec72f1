"""Run the fault suite and print the README's reliability table.

    .venv/bin/python scripts/fault_report.py                 # tests/faults, default fuzzing budget
    .venv/bin/python scripts/fault_report.py --budget 600    # longer fuzzing (POINTNET_FAULT_BUDGET seconds)
    .venv/bin/python scripts/fault_report.py --repeat 4      # 4x the kill and signal trials (POINTNET_FAULT_REPEAT)
    .venv/bin/python scripts/fault_report.py --log FILE      # only summarise an existing ledger

Each test of ``tests/faults`` records one JSON line per injected fault (``fault_log`` in
``tests/faults/conftest.py``). The table gives, per fault kind: trials, trials survived, trials that lost
data (must be 0); fuzzing tests that log ``cases=`` and ``seconds=`` add their rate and time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_suite(log: Path, budget: str | None, repeat: str | None, pytest_args: list[str]) -> int:
    env = {**os.environ, "POINTNET_FAULT_LOG": str(log)}
    if budget is not None:
        env["POINTNET_FAULT_BUDGET"] = budget
    if repeat is not None:
        env["POINTNET_FAULT_REPEAT"] = repeat
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "tests/faults", *pytest_args], cwd=REPO, env=env)


def table(rows: list[dict]) -> str:
    """The markdown table of ``rows`` (ledger lines), kinds in the order they first appear."""
    kinds: dict[str, dict] = defaultdict(lambda: {"trials": 0, "survived": 0, "lost": 0, "cases": 0, "seconds": 0.0})
    for row in rows:
        k = kinds[row["kind"]]
        k["trials"] += 1
        k["survived"] += bool(row["survived"])
        k["lost"] += bool(row["data_lost"])
        k["cases"] += int(row.get("cases", 0))
        k["seconds"] += float(row.get("seconds", 0.0)) if "cases" in row else 0.0
    lines = ["| fault | trials | survived | data lost | fuzzing |", "|---|---:|---:|---:|---|"]
    for name, k in kinds.items():
        fuzz = (f"{k['cases']} cases in {k['seconds']:.0f} s ({k['cases'] / k['seconds']:.0f}/s)"
                if k["cases"] and k["seconds"] else "")
        lines.append(f"| {name} | {k['trials']} | {k['survived']} | {k['lost']} | {fuzz} |")
    total = [sum(k[c] for k in kinds.values()) for c in ("trials", "survived", "lost")]
    lines.append(f"| **all** | {total[0]} | {total[1]} | {total[2]} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, help="summarise this ledger instead of running the suite")
    parser.add_argument("--budget", help="seconds per fuzzing test (POINTNET_FAULT_BUDGET; default: passed through)")
    parser.add_argument("--repeat", help="run the kill and signal chains this many times over (POINTNET_FAULT_REPEAT)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    code = 0
    if args.log is None:
        log = Path(tempfile.mkdtemp(prefix="pointnet-faults-")) / "faults.jsonl"
        code = run_suite(log, args.budget or os.environ.get("POINTNET_FAULT_BUDGET"), args.repeat, args.pytest_args)
    else:
        log = args.log
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
    if not rows:
        print(f"no trials recorded in {log}", file=sys.stderr)
        return code or 1
    print(table(rows))
    lost = sum(bool(r["data_lost"]) for r in rows)
    return code or (1 if lost else 0)


if __name__ == "__main__":
    sys.exit(main())
