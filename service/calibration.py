"""How often the model is right at a given confidence: the calibration behind estimated accuracy.

Training fits an isotonic regression of "the top class was right" on the top
class's probability, over predictions the model did not train on (with the
model's own probability as a weak prior where those predictions are few), and stores
it with the registered version as `calibration.json`: the regression's
thresholds, two short arrays, no pickle. Serving maps each prediction's
confidence through it and sums the results per version, so that expected
correct predictions over predictions is the accuracy to expect before any
label arrives (confidence-based performance estimation, CBPE). It assumes the
relationship between inputs and labels is the one the model learned: a
concept shift that leaves confidence unchanged is invisible to it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ARTIFACT = "calibration.json"
TAG = "calibration_artifact"  # on the registered version: the artifact's path in its run
ECE_BINS = 10
PRIOR_POINTS = 100  # pseudo-observations the prior is spread over, evenly in confidence

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    """A non-decreasing, piecewise-linear map from confidence to the probability of being right."""

    x: tuple[float, ...]  # confidences, ascending
    y: tuple[float, ...]  # the probability of being right at each, non-decreasing, in [0, 1]

    def __post_init__(self) -> None:
        if not self.x or len(self.x) != len(self.y):
            raise ValueError("x and y must be non-empty and of the same length")
        if not all(math.isfinite(v) for v in (*self.x, *self.y)):
            raise ValueError("x and y must be finite")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("x must be ascending")
        if any(b < a for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("y must be non-decreasing")
        if not all(0 <= v <= 1 for v in self.y):
            raise ValueError("y must lie in [0, 1]")

    def __call__(self, confidence: npt.ArrayLike) -> Floats:
        """The calibrated probability that each prediction is right (flat beyond the ends)."""
        calibrated: Floats = np.interp(np.asarray(confidence, dtype=float), self.x, self.y)
        return calibrated

    def to_dict(self) -> dict[str, Any]:
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        if data.get("method") != "isotonic":
            raise ValueError(f"unknown calibration method {data.get('method')!r}")
        return cls(tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"]))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_dict(json.loads(path.read_text()))


def fit(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, prior: float = 0.0, classes: int = 2
) -> Calibration:
    """An isotonic regression of `correct` (0 or 1) on `confidence`, kept as its thresholds.

    With a PRIOR (a weight, in observations), the model's own confidence is taken at its word
    as much: pseudo-observations spread evenly over the confidences a model of CLASSES classes
    can give ([1/classes, 1]), each right with the probability it claims. Where predictions
    are many the data outweigh it; where they are few (low confidence, on a small data set)
    it keeps one or two errors from setting the map (a block of errors alone reads "never
    right", which no top-class probability of 1/classes or more means)."""
    from sklearn.isotonic import IsotonicRegression  # noqa: PLC0415 - only training fits

    x, y = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    weight = np.ones_like(x)
    if prior > 0:
        grid = np.linspace(1 / classes, 1, PRIOR_POINTS)
        x, y = np.concatenate([x, grid]), np.concatenate([y, grid])
        weight = np.concatenate([weight, np.full(PRIOR_POINTS, prior / PRIOR_POINTS)])
    regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    regression.fit(x, y, sample_weight=weight)
    return Calibration(
        tuple(float(v) for v in regression.X_thresholds_),
        tuple(float(v) for v in regression.y_thresholds_),
    )


def expected_calibration_error(
    confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = ECE_BINS
) -> float:
    """Binned ECE: over equal-width confidence bins, the gap between mean confidence and
    accuracy, weighted by the bin's share of predictions."""
    p = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=float)
    if p.size == 0:
        return 0.0
    index = np.minimum((p * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            gap += members.sum() * abs(right[members].mean() - p[members].mean())
    return float(gap / p.size)
