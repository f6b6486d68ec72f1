"""What a setting does to a run: declared once, on its schema field, and read wherever keys were listed by hand.

A field's role is in its dataclass metadata (``field(default=..., metadata=SPEED)``); a field without one
changes results. From the roles come the keys a sweep job's name leaves out, the settings HParams records,
and the keys a resume may change (``pointnet.apps.schema``):

============  ===================================================  =====================  ==================
role          what it is                                           named and recorded     may change on resume
============  ===================================================  =====================  ==================
``result``    changes what a run learns (the default)              yes                    no
``variant``   the same training carried out another way: the       yes                    yes
              shared-MLP variant, the fast path, the spread over
              processes (a resume converts its progress)
``length``    how long a run trains (``train.epochs``)             yes                    yes
``speed``     how fast: threads, workers, device, compilation      no                     yes
``place``     where things are: data, caches, checkpoints          no                     yes
``report``    what is logged and drawn                             no                     yes
============  ===================================================  =====================  ==================
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, fields, is_dataclass
from typing import Any

RESULT, VARIANT, LENGTH, SPEED, PLACE, REPORT = "result", "variant", "length", "speed", "place", "report"
NAMED = frozenset({RESULT, VARIANT, LENGTH})
"""Roles a sweep job's name and TensorBoard's HParams include."""
FIXED_ON_RESUME = frozenset({RESULT})
"""Roles a resumed run must keep as the checkpoint has them."""

VARIANT_ROLE: Mapping[str, str] = {"role": VARIANT}
LENGTH_ROLE: Mapping[str, str] = {"role": LENGTH}
SPEED_ROLE: Mapping[str, str] = {"role": SPEED}
PLACE_ROLE: Mapping[str, str] = {"role": PLACE}
REPORT_ROLE: Mapping[str, str] = {"role": REPORT}


def leaf_roles(schema: Any, prefix: str = "", inherited: str = RESULT) -> Iterator[tuple[str, str]]:
    """``(dotted key, role)`` of every leaf of a dataclass ``schema`` (a class or an instance).

    A nested dataclass field is walked; a role on it holds for every key below it unless one of those
    declares its own.
    """
    for f in fields(schema):
        role = f.metadata.get("role", inherited)
        key = f"{prefix}{f.name}"
        nested = f.default_factory() if f.default_factory is not MISSING else f.default
        if is_dataclass(nested):
            yield from leaf_roles(nested, f"{key}.", role)
        else:
            yield key, role


def leaves(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf of a plain config tree (a list, or an empty mapping, is one leaf)."""
    if isinstance(tree, Mapping) and tree:
        for key, value in tree.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, tree


def under(key: str, prefixes: Iterable[str]) -> bool:
    """Whether the dotted ``key`` is one of ``prefixes`` or lies below one (``train.lr`` is under ``train``)."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)
