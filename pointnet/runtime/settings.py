"""``runtime``: where an app computes and on how many threads; the same keys for every app that runs a model.

Neither changes what a run computes (their role is ``speed``, :mod:`pointnet.roles`): a sweep job's name leaves
them out and a resume may change them. Until the next release the old names ``train.device`` and
``train.threads`` are still accepted, with a warning (``pointnet.apps.schema.adopt_old_runtime_keys``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pointnet.roles import SPEED_ROLE


@dataclass
class RuntimeSettings:
    """``runtime.device``: auto (CUDA when there is one), cpu or cuda[:N]; ``runtime.threads``: torch's thread
    count, or null to choose it from the machine's load (``pointnet.runtime.threads.ThreadGovernor``)."""

    device: str = field(default="auto", metadata=SPEED_ROLE)
    threads: int | None = field(default=None, metadata=SPEED_ROLE)
