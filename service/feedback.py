"""Ground truth for served predictions: matching labels to predictions, accuracy by version.

Every prediction gets an id; the service keeps the most recent ones (a bounded
map, oldest forgotten first) so that a true label sent later, out of order,
twice, or for an id it never made, can be answered exactly. Matched labels
feed, per model version, a counter of right and wrong predictions (accuracy
over any window in PromQL) and the accuracy and macro F1 of the last `window`
labels. Everything is O(1) on the request path but the F1, computed over the
small window on each match.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from service.catalog import FEEDBACK_OUTCOMES

# The catalog's closed set: the `outcome` label of mlops_feedback_total.
OUTCOMES = FEEDBACK_OUTCOMES
MATCHED, UNKNOWN_ID, DUPLICATE, UNKNOWN_LABEL = OUTCOMES


@dataclass(frozen=True)
class Match:
    outcome: str
    version: str | None = None
    correct: bool | None = None
    accuracy: float | None = None
    macro_f1: float | None = None


def macro_f1(pairs: Sequence[tuple[str, str]]) -> float:
    """Macro-averaged F1 of (predicted, true) pairs, over every class either side names."""
    classes = {c for pair in pairs for c in pair}
    scores = []
    for c in classes:
        tp = sum(1 for p, t in pairs if p == c and t == c)
        fp = sum(1 for p, t in pairs if p == c and t != c)
        fn = sum(1 for p, t in pairs if p != c and t == c)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


class FeedbackStore:
    def __init__(self, capacity: int, window: int) -> None:
        self.capacity = capacity
        self.window = window
        # id -> (version, predicted class, the classes that version knows)
        self._pending: OrderedDict[str, tuple[str, str, frozenset[str]]] = OrderedDict()
        self._answered: OrderedDict[str, None] = OrderedDict()  # ids already labelled
        self._labels: dict[str, deque[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pending)

    def record(self, version: str, ids: Sequence[str], predicted: Sequence[str],
               classes: Sequence[str]) -> int:  # fmt: skip
        """Keep a request's predictions; returns how many are kept now."""
        known = frozenset(classes)
        with self._lock:
            for prediction_id, label in zip(ids, predicted, strict=True):
                self._pending[prediction_id] = (version, label, known)
            while len(self._pending) > self.capacity:
                self._pending.popitem(last=False)
            return len(self._pending)

    def match(self, prediction_id: str, label: str) -> Match:
        with self._lock:
            if prediction_id in self._answered:
                return Match(DUPLICATE)
            entry = self._pending.get(prediction_id)
            if entry is None:
                return Match(UNKNOWN_ID)
            version, predicted, known = entry
            if label not in known:
                return Match(UNKNOWN_LABEL, version)
            del self._pending[prediction_id]
            self._answered[prediction_id] = None
            while len(self._answered) > self.capacity:
                self._answered.popitem(last=False)
            pairs = self._labels.setdefault(version, deque(maxlen=self.window))
            pairs.append((predicted, label))
            accuracy = sum(1 for p, t in pairs if p == t) / len(pairs)
            return Match(MATCHED, version, predicted == label, accuracy, macro_f1(list(pairs)))
