"""Per-feature drift of recent inputs, computed off the request path.

Requests only append their validated batch to a queue (a deque append). A
background thread drains it every few seconds into a sliding window of the
last N rows, bins them against the served version's reference, sets the PSI
gauge per feature, and, when configured, writes the rows for the drift job.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from service import ml_metrics
from service.background import Worker
from service.inputs_log import InputsWriter, Row
from service.model_store import Loaded

log = logging.getLogger("service.drift")


class DriftMonitor(Worker):
    def __init__(
        self,
        model: str,
        window: int,
        interval: float,
        current: Callable[[], Loaded | None],
        inputs_dir: Path | None = None,
        *,
        min_rows: int = 1,
        metrics: ml_metrics.Metrics = ml_metrics.NO_ML_METRICS,
    ) -> None:
        super().__init__("drift-monitor")
        self.model = model
        self.window = window
        self.interval = interval
        self.min_rows = min_rows
        self._current = current
        self._metrics = metrics
        self._pending: deque[tuple[str, np.ndarray[Any, Any]]] = deque(maxlen=10_000)
        self._rows: deque[np.ndarray[Any, Any]] = deque(maxlen=window)
        self._version: str | None = None
        self._scored: tuple[str, ...] = ()  # features whose score is on the gauge
        self._writer = InputsWriter(inputs_dir, model) if inputs_dir else None

    def record(self, version: str, batch: np.ndarray[Any, Any]) -> None:
        """Called on the request path: O(1)."""
        self._pending.append((version, batch))

    def update(self) -> dict[str, float]:
        """Drain pending batches and recompute PSI; returns the scores it set."""
        loaded = self._current()
        drained: list[tuple[str, np.ndarray[Any, Any]]] = []
        while self._pending:
            drained.append(self._pending.popleft())
        if self._writer is not None and drained:
            now = time.time()
            self._writer.write([Row(now, v, tuple(map(float, r))) for v, b in drained for r in b])
        if loaded is None:
            return {}
        if loaded.version != self._version:
            self._rows.clear()  # a new version has a new reference: judge it on its own inputs
            if self._version is not None:
                self._withdraw_scores()
            self._version = loaded.version
        for version, batch in drained:
            if version == loaded.version:
                self._rows.extend(batch)
        if len(self._rows) < self.min_rows:
            return {}  # PSI over a few rows is mostly noise (biased upward): wait for enough
        window = np.vstack(self._rows)
        scores = {}
        for column, feature in zip(window.T, loaded.reference.features, strict=True):
            scores[feature.name] = feature.psi(feature.counts(column))
            self._metrics.feature_drift(self.model, feature.name, scores[feature.name])
        self._scored = tuple(scores)
        return scores

    def _withdraw_scores(self) -> None:
        """The previous version's scores judged other inputs against another reference: a
        drift alert on them would outlive a rollback. NaN ("not judged yet") until the new
        version has enough rows of its own; `> threshold` is false on NaN."""
        for feature in self._scored:
            self._metrics.feature_drift(self.model, feature, math.nan)
        self._scored = ()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.update()
            except Exception:
                log.exception("drift update failed", extra={"model": self.model})
