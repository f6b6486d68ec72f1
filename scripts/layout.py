"""The layout tables, written from the code's own docstrings so they cannot drift from it.

README.md's table has a row per folder (its summary and its modules); ``docs/layout.md`` a row per
module (the first line of its docstring). ``tests/test_docs.py`` fails when either differs from what
this prints.

    .venv/bin/python scripts/layout.py           # print both
    .venv/bin/python scripts/layout.py --write   # rewrite them in README.md and docs/layout.md
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The package's layers in import order (each imports only those above it), then what sits beside it.
FOLDERS = ("pointnet", "pointnet/nn", "pointnet/data", "pointnet/runtime", "pointnet/training", "pointnet/inference",
           "pointnet/reporting", "pointnet/apps", "pointnet/explain", "benchmarks", "scripts", "tests")
START, END = "<!-- layout:start -->", "<!-- layout:end -->"


def docstring(path: Path) -> str:
    """A Python file's docstring, or the leading ``#`` comment of a shell script or YAML file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return ast.get_docstring(ast.parse(text)) or ""
    lines = [line for line in text.splitlines() if not line.startswith("#!")]
    comment = [line.lstrip("#").strip() for line in lines[:next(
        (i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))]]
    return "\n".join(comment)


def first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


def first_sentence(text: str) -> str:
    paragraph = " ".join(text.strip().split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".")


def members(folder: Path) -> list[Path]:
    """The modules and scripts a folder holds (not ``__init__.py``), and its subpackages."""
    found = [p for p in sorted(folder.iterdir())
             if (p.suffix in (".py", ".sh") and p.name != "__init__.py") or (p / "__init__.py").is_file()]
    if folder.name == "tests":  # one test file per topic: the row names the helpers, the folders beside them
        found = [p for p in found if not p.name.startswith("test_")]
    return [p for p in found if not (folder.name == "pointnet" and p.is_dir())]


def summary(folder: Path) -> str:
    init = folder / "__init__.py"
    if init.is_file():
        return first_sentence(docstring(init))
    return "tools for working on the repository"


def readme_table() -> str:
    rows = ["| path | holds |", "|---|---|"]
    for name in FOLDERS:
        folder = ROOT / name
        files = ", ".join(f"`{p.name}/`" if p.is_dir() else f"`{p.name}`" for p in members(folder))
        more = ", and a `test_*.py` per topic" if name == "tests" else ""
        rows.append(f"| `{name}/` | {summary(folder)}: {files}{more} |")
    rows.append("| `configs/` | the Hydra config tree: one YAML per app, a group per code choice: "
                + ", ".join(f"`{p.name}/`" for p in sorted((ROOT / "configs").iterdir()) if p.is_dir()) + " |")
    site = first_line(docstring(ROOT / "mkdocs.yml")).rstrip(".")
    rows.append(f"| `docs/`, `mkdocs.yml` | {site}; every module in [docs/layout.md](docs/layout.md) |")
    return "\n".join(rows)


def module_rows(folder: Path, prefix: str) -> list[str]:
    rows = []
    for p in members(folder):
        if p.is_dir():
            rows += [f"| `{prefix}{p.name}/` | {first_line(docstring(p / '__init__.py'))} |"]
            rows += module_rows(p, f"{prefix}{p.name}/")
        else:
            text = docstring(p)
            rows.append(f"| `{prefix}{p.name}` | {first_line(text) if p.suffix == '.py' else first_sentence(text)} |")
    return rows


def layout_page() -> str:
    parts = ["# Layout", "",
             "Every module and script, with the first line of its docstring (written by `scripts/layout.py`; "
             "`tests/test_docs.py` fails when it drifts). The package's layers come in import order: each imports "
             "only those above it (`tests/test_architecture.py`)."]
    for name in FOLDERS:
        parts += ["", f"## `{name}/`", "", first_sentence(summary(ROOT / name)) + ".", "",
                  "| file | holds |", "|---|---|", *module_rows(ROOT / name, "")]
    return "\n".join(parts) + "\n"


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the layout markers replaced by ``table``."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md's table and docs/layout.md")
    args = parser.parse_args(argv)
    if not args.write:
        print(readme_table(), layout_page(), sep="\n\n")
        return
    readme = ROOT / "README.md"
    readme.write_text(with_table(readme.read_text(encoding="utf-8"), readme_table()), encoding="utf-8")
    (ROOT / "docs" / "layout.md").write_text(layout_page(), encoding="utf-8")


if __name__ == "__main__":
    main()
