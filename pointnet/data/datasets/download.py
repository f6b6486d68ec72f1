"""``pointnet-download``: fetch an official ModelNet archive, verify it, unpack it into ``data/``.

Every step is atomic: the archive downloads to a hidden ``.part`` file, is verified (zip CRCs of
every member, and ``--sha256`` when given), unpacks into a hidden staging folder, and only then is
renamed to ``data/ModelNet10`` (or ``ModelNet40``). An interrupted run leaves no half data set.
"""
from __future__ import annotations

import os
import shutil
import urllib.request
import uuid
import zipfile
from pathlib import Path

from tqdm import tqdm

from pointnet.data.atomic import sha256_file, swap_in_folder, temp_path

ARCHIVES: dict[str, str] = {
    "ModelNet10": "http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip",
    "ModelNet40": "https://modelnet.cs.princeton.edu/ModelNet40.zip",
}


class DownloadError(RuntimeError):
    """The archive could not be fetched, failed verification, or does not hold the data set."""


def download(
    name: str = "ModelNet10",
    dest: str | os.PathLike = "data",
    *,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    keep_archive: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download, verify and unpack data set ``name`` into ``dest/<name>``; return that folder.

    An existing ``dest/<name>`` is kept unless ``force``. Raises DownloadError on any failure.
    """
    name = canonical_name(name)
    dest = Path(dest)
    target = dest / name
    if target.exists() and not force:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / f"{name}.zip"
    if not (keep_archive and archive.is_file()):
        fetch(url or ARCHIVES[name], archive, progress=progress, timeout=timeout)
    try:
        verify(archive, sha256)
        unpack(archive, name, target)
    finally:
        if not keep_archive:
            archive.unlink(missing_ok=True)
    return target


def canonical_name(name: str) -> str:
    """``"modelnet10"`` -> ``"ModelNet10"`` (any case); unknown names raise ``ValueError``."""
    for known in ARCHIVES:
        if name.lower() == known.lower():
            return known
    raise ValueError(f"unknown data set {name!r}; choose one of {sorted(ARCHIVES)}")


def fetch(url: str, path: Path, *, progress: bool = True, timeout: float = 60.0) -> None:
    """Stream ``url`` to ``path`` via a temporary file, with a progress bar."""
    part = temp_path(path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as file:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name,
                      disable=None if progress else True) as bar:
                while chunk := response.read(1 << 20):
                    file.write(chunk)
                    bar.update(len(chunk))
        if total is not None and part.stat().st_size != total:
            raise DownloadError(f"{url}: got {part.stat().st_size} of {total} bytes")
        os.replace(part, path)
    except (OSError, ValueError) as error:
        raise DownloadError(f"cannot download {url}: {error}") from error
    finally:
        part.unlink(missing_ok=True)


def verify(archive: Path, sha256: str | None = None) -> None:
    """Check the SHA-256 (if given) and every member's CRC; raise DownloadError naming the problem."""
    if sha256:
        digest = sha256_file(archive)
        if digest != sha256.lower():
            raise DownloadError(f"{archive}: SHA-256 {digest} does not match {sha256}")
    try:
        with zipfile.ZipFile(archive) as zipped:
            bad = zipped.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise DownloadError(f"{archive} is not a valid zip archive: {error}") from None
    if bad is not None:
        raise DownloadError(f"{archive}: member {bad} is corrupt (CRC mismatch)")


def unpack(archive: Path, name: str, target: Path) -> None:
    """Extract ``archive`` and move its ``<name>/`` folder (or its single top folder) to ``target``."""
    staging = target.parent / f".{target.name}.unpack-{uuid.uuid4().hex[:8]}"
    try:
        with zipfile.ZipFile(archive) as zipped:
            _check_members(zipped, staging)
            zipped.extractall(staging)
        swap_in_folder(_data_folder(staging, name), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_members(zipped: zipfile.ZipFile, staging: Path) -> None:
    """Refuse members that would land outside the staging folder (absolute or ``..`` paths)."""
    base = staging.resolve()
    for member in zipped.namelist():
        if not (base / member).resolve().is_relative_to(base):
            raise DownloadError(f"archive member {member!r} points outside the target folder")


def _data_folder(staging: Path, name: str) -> Path:
    """``staging/<name>`` if present, else the single top-level folder (``__MACOSX`` ignored)."""
    if (staging / name).is_dir():
        return staging / name
    tops = [p for p in staging.iterdir() if p.is_dir() and not p.name.startswith(("__", "."))]
    if len(tops) == 1:
        return tops[0]
    raise DownloadError(f"archive does not contain a {name}/ folder (found {[p.name for p in tops]})")
