"""ruff and mypy over the package, the benchmarks and the tools, as ``pyproject.toml`` configures them.

ruff's rule set includes pycodestyle's layout rules, which stand in for a formatter check (see the
``[tool.ruff.lint]`` comment). The tools come with the ``dev`` extra (``scripts/setup_env.sh dev``); a
missing one fails here rather than skipping. mypy keeps its incremental cache in ``.mypy_cache/``: a
cold run takes about 20 s on a 2-core machine, a warm one about a second.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECKS = {
    "ruff check": ("ruff", "check", "pointnet", "benchmarks", "scripts"),
    "mypy": ("mypy",),  # the files pyproject.toml names
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_package_passes(name):
    module, *args = CHECKS[name]
    assert importlib.util.find_spec(module) is not None, (
        f"{module} is not installed: it comes with the dev extra (bash scripts/setup_env.sh dev)")
    run = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"{name} found problems:\n{run.stdout}{run.stderr}"
