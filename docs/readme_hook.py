"""MkDocs hook: the site's front page is README.md, so the guide is written once.

README.md links the pages as ``docs/PAGE.md`` (right on GitHub); on the site those pages sit beside the front
page, so the prefix is dropped. Links to other files of the repository (``data/README.md``, ...) are outside the
site: they keep their text and lose the link. Every other link is checked by ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File, Files

LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _site_link(match: re.Match[str]) -> str:
    text, target = match.group(1), match.group(2)
    if target.startswith("docs/"):
        return f"[{text}]({target.removeprefix('docs/')})"
    if target.startswith(("#", "http://", "https://", "mailto:")):
        return match.group(0)
    return text


def front_page(readme: str) -> str:
    """README.md's Markdown with its links made to work from the site's front page."""
    return LINK.sub(_site_link, readme)


def on_files(files: Files, config) -> Files:
    readme = Path(config.config_file_path).parent / "README.md"
    files.append(File.generated(config, "index.md", content=front_page(readme.read_text(encoding="utf-8"))))
    return files
