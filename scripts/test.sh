#!/usr/bin/env bash
# The whole test suite, as CI runs it: the tests that only need the CPU they are given run on two pytest-xdist
# workers (most of the suite waits on single-threaded subprocess start-up and small one-thread trainings, which
# leave the second core idle: 21.1 -> 13.3 minutes on a slow 2-core machine); the tests marked `serial`, which
# measure the machine's load themselves (the thread governor, the benchmark's competitor), then run alone.
# A plain `.venv/bin/python -m pytest` runs everything in one process, as before. Extra arguments go to both.
#   bash scripts/test.sh                 # the suite
#   bash scripts/test.sh tests/faults    # a part of it
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORKERS=${PYTEST_WORKERS:-2}
status=0
"$PY" -m pytest -q -n "$WORKERS" --dist worksteal -m "not serial" "$@" || status=$?
[ "$status" -eq 5 ] && status=0  # nothing collected in this part (a path with serial tests only)
# Without arguments the serial pass collects only the files that mark a test serial (collecting the whole
# suite again costs as long as those tests take).
serial=("$@")
[ $# -eq 0 ] && mapfile -t serial < <(grep -rl --include="test_*.py" "mark.serial" tests | sort)
"$PY" -m pytest -q -p no:xdist -m serial "${serial[@]}" || { rc=$?; [ "$rc" -eq 5 ] || status=$rc; }
exit "$status"
