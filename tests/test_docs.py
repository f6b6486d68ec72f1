"""The README stays a user's guide with both commands, and the docs site builds with every link and anchor intact."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 350


def test_the_readme_is_a_guide_of_at_most_350_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines; it is a user's guide of at most {MAX_README_LINES}: "
        "move history, long tables and measurements into a docs/ page and link it")


def _command_after(marker: str) -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines.count(marker) == 1, f"README.md must hold {marker} exactly once"
    at = lines.index(marker)
    assert lines[at + 1] == "```bash", f"{marker} must be followed by a ```bash block"
    assert lines[at + 3] == "```", f"the block after {marker} holds one command line"
    return lines[at + 2]


def test_the_readme_opens_with_the_main_and_the_test_command():
    """`.ci/run` runs the line after `<!-- test-command -->`; both commands come before any section."""
    assert _command_after("<!-- main-command -->") == "bash scripts/setup_env.sh && .venv/bin/pointnet-train"
    assert _command_after("<!-- test-command -->") == "bash scripts/setup_env.sh dev && bash scripts/test.sh"
    text = README.read_text(encoding="utf-8")
    first_section = text.index("\n## ")
    assert text.index("<!-- main-command -->") < text.index("<!-- test-command -->") < first_section


def test_the_docs_site_builds_strict(tmp_path):
    """A broken link or anchor (README's too), or a docs page left out of the nav, fails `mkdocs build --strict`."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    front = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "ModelNet40 on a CPU" in front and 'href="recipes/"' in front  # README.md is the front page


def test_the_front_page_links_the_pages_beside_it():
    """README.md links `docs/PAGE.md` (right on GitHub); on the site the page sits beside the front page."""
    spec = importlib.util.spec_from_file_location("readme_hook", ROOT / "docs" / "readme_hook.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    readme = "[a](docs/recipes.md#seeds) [b](data/README.md) [c](#layout) [d](https://example.org/x.md)"
    assert hook.front_page(readme) == "[a](recipes.md#seeds) b [c](#layout) [d](https://example.org/x.md)"


def _layout_tool():
    spec = importlib.util.spec_from_file_location("layout", ROOT / "scripts" / "layout.py")
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    return layout


def test_the_layout_tables_are_the_ones_the_docstrings_write():
    """README's layout table and docs/layout.md come from the modules' docstrings (`scripts/layout.py --write`)."""
    layout = _layout_tool()
    readme = README.read_text(encoding="utf-8")
    assert layout.with_table(readme, layout.readme_table()) == readme, (
        "README.md's layout table has drifted from the code: run .venv/bin/python scripts/layout.py --write")
    page = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8")
    assert page == layout.layout_page(), "docs/layout.md has drifted: run .venv/bin/python scripts/layout.py --write"


def test_a_new_module_shows_up_as_drift(tmp_path, monkeypatch):
    """The check can fail: a module the tables do not name makes them differ."""
    layout = _layout_tool()
    package = tmp_path / "pointnet" / "nn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The network."""\n')
    (package / "model.py").write_text('"""PointNet."""\n')
    monkeypatch.setattr(layout, "ROOT", tmp_path)
    monkeypatch.setattr(layout, "FOLDERS", ("pointnet/nn",))
    (tmp_path / "configs").mkdir()
    (tmp_path / "mkdocs.yml").write_text("# The site.\n")
    before = layout.readme_table()
    assert "| `pointnet/nn/` | The network: `model.py` |" in before
    (package / "shared_mlp.py").write_text('"""Shared MLPs."""\n')
    assert layout.readme_table() != before and "`shared_mlp.py`" in layout.layout_page()
