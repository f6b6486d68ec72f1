"""Run one function over many items on several processes, in order, with a progress bar.

Preparation and synthetic generation are CPU-bound per file, so they use processes. Workers are
forked where the platform allows: they inherit the imported modules instead of re-importing torch
(seconds per worker), which keeps small jobs fast.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")


def parallel_map(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    *,
    workers: int = 2,
    progress: bool = True,
    desc: str = "",
    unit: str = "it",
) -> Iterator[Result]:
    """Yield ``function(item)`` for every item, in input order.

    ``workers <= 1`` (or a single item) runs in this process. ``function`` must be picklable (a
    module-level function or a ``functools.partial`` of one). Exceptions propagate.
    """
    with tqdm(total=len(items), desc=desc, unit=unit, disable=None if progress else True, leave=False) as bar:
        for result in _results(function, items, workers):
            bar.update(1)
            yield result


def _results(function: Callable[[Item], Result], items: Sequence[Item], workers: int) -> Iterator[Result]:
    if workers <= 1 or len(items) <= 1:
        yield from map(function, items)
        return
    chunk = max(1, min(16, len(items) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        yield from pool.map(function, items, chunksize=chunk)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)
