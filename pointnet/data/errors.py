"""The two error types of the data layer, both ``ValueError`` so callers can catch bad input at once."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


class MeshError(ValueError):
    """One source file (a mesh, or a pre-sampled point file) cannot be used.

    Raised by :func:`pointnet.data.read_mesh` for every kind of bad file (unreadable, malformed,
    non-finite, degenerate), so preparation can skip the file, report it and go on. The message is
    ``"<path>: <reason>"``; both parts are also attributes.
    """

    def __init__(self, reason: str, path: str | os.PathLike | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        super().__init__(reason if path is None else f"{path}: {reason}")

    def __reduce__(self):
        return type(self), (self.reason, self.path)


@contextmanager
def mesh_errors(path: str | os.PathLike) -> Iterator[None]:
    """Inside the block, any failure reading ``path`` becomes a ``MeshError`` naming it (the contract:
    a bad source file only ever raises ``MeshError``)."""
    try:
        yield
    except MeshError as error:
        raise MeshError(error.reason, path) from None
    except Exception as error:  # any error: the contract above
        raise MeshError(f"{type(error).__name__}: {error}", path) from error


class DatasetError(ValueError):
    """A data set as a whole cannot be used (missing folder, empty class, nothing readable).

    The message names the folder or file to fix. Raised before any training starts.
    """
