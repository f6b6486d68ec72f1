"""Predictions as people and scripts read them: a table, JSON lines or CSV, one input per line.

A record is a plain dict: ``path``, ``top_k`` (``[{"label", "probability"}]``, best first) and
``seconds`` (reading, preprocessing and inference of that input); a failed input has ``error``
instead of ``top_k``. ``PREDICTION_FORMATS`` maps a format name to its writer class.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TextIO


class TableWriter:
    """``path: label p, label p, ...`` for people; a failed input goes to ``errors`` only."""

    def __init__(self, out: TextIO, errors: TextIO, top_k: int) -> None:
        self.out, self.errors = out, errors

    def write(self, record: dict[str, Any]) -> None:
        if "error" in record:
            print(f"error: {record['error']}", file=self.errors, flush=True)
            return
        ranked = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in record["top_k"])
        print(f"{record['path']}: {ranked}", file=self.out, flush=True)


class JsonLinesWriter(TableWriter):
    """One JSON object per line, failed inputs included (with ``error``); the message also on ``errors``."""

    def write(self, record: dict[str, Any]) -> None:
        if "error" in record:
            print(f"error: {record['error']}", file=self.errors, flush=True)
        print(json.dumps(record), file=self.out, flush=True)


class CsvWriter(TableWriter):
    """A header, then ``path, label_1, probability_1, ..., label_k, probability_k, seconds, error``."""

    def __init__(self, out: TextIO, errors: TextIO, top_k: int) -> None:
        super().__init__(out, errors, top_k)
        self.top_k = top_k
        self.csv = csv.writer(out, lineterminator="\n")
        ranks = [f"{name}_{r}" for r in range(1, top_k + 1) for name in ("label", "probability")]
        self.csv.writerow(["path", *ranks, "seconds", "error"])

    def write(self, record: dict[str, Any]) -> None:
        if "error" in record:
            print(f"error: {record['error']}", file=self.errors, flush=True)
        cells: list[Any] = []
        for t in record.get("top_k", []):
            cells += [t["label"], f"{t['probability']:.6f}"]
        cells += [""] * (2 * self.top_k - len(cells))
        self.csv.writerow([record["path"], *cells, f"{record['seconds']:.4f}", record.get("error", "")])
        self.out.flush()


PREDICTION_FORMATS: Mapping[str, type[TableWriter]] = MappingProxyType({
    "table": TableWriter,
    "json": JsonLinesWriter,
    "csv": CsvWriter,
})
