"""Recent validated inputs, written by the service for the drift job to read.

One JSON object per line: `{"t": unix seconds, "v": model version, "x": [feature values]}`,
in `<dir>/<model>.jsonl`. The writer keeps the file bounded by rotating it to
`<model>.jsonl.1` when it passes `max_lines`, so the newest `max_lines` to
`2 * max_lines` rows are always on disk.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    t: float
    version: str
    x: tuple[float, ...]


def path_for(directory: Path, model: str) -> Path:
    return directory / f"{model}.jsonl"


class InputsWriter:
    """Appends rows; not thread-safe: one writer thread owns it."""

    def __init__(self, directory: Path, model: str, max_lines: int = 10_000) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = path_for(directory, model)
        self.max_lines = max_lines
        self._lines = sum(1 for _ in self.path.open()) if self.path.exists() else 0

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self.path.open("a") as out:
            for row in rows:
                out.write(json.dumps({"t": row.t, "v": row.version, "x": list(row.x)}) + "\n")
        self._lines += len(rows)
        if self._lines >= self.max_lines:
            self.path.replace(self.path.with_suffix(".jsonl.1"))
            self._lines = 0


def read_recent(directory: Path, model: str, limit: int, version: str | None = None) -> list[Row]:
    """The newest `limit` rows (oldest first), of one model version if given; unreadable lines are skipped."""
    current = path_for(directory, model)
    rows: deque[Row] = deque(maxlen=limit)
    for path in (current.with_suffix(".jsonl.1"), current):
        if not path.exists():
            continue
        with path.open() as lines:
            for line in lines:
                try:
                    data = json.loads(line)
                    row = Row(float(data["t"]), str(data["v"]), tuple(float(v) for v in data["x"]))
                except (ValueError, KeyError, TypeError):
                    continue
                if version is None or row.version == version:
                    rows.append(row)
    return list(rows)
