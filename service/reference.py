"""What "normal" input looks like for one model version, and how far recent input is from it.

Training stores a `Reference` as an artifact of the registered version: per
feature, quantile bin edges with the training proportions (for the population
stability index) and a bounded sample (for the drift job's statistical tests).
The service and the drift job load the same artifact, so both judge drift
against the data the served version actually learned from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ARTIFACT = "reference.json"
BINS = 10
SAMPLE_SIZE = 1000
# Keeps an empty bin from making PSI infinite; the usual choice for PSI.
EPSILON = 1e-4


def feature_slug(name: str) -> str:
    """A bounded, label-safe feature name: `sepal length (cm)` -> `sepal_length_cm`."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class FeatureReference:
    name: str
    edges: tuple[float, ...]  # inner bin edges, ascending; len(proportions) == len(edges) + 1
    proportions: tuple[float, ...]
    sample: tuple[float, ...]

    def counts(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """How many of `values` fall in each reference bin."""
        index = np.searchsorted(
            np.asarray(self.edges), np.asarray(values, dtype=float), side="right"
        )
        return np.bincount(index, minlength=len(self.proportions)).astype(np.int64)

    def psi(self, counts: npt.ArrayLike) -> float:
        """Population stability index of binned recent values against the reference."""
        actual = np.asarray(counts, dtype=float)
        total = actual.sum()
        if total == 0:
            return 0.0
        expected = np.clip(np.asarray(self.proportions), EPSILON, None)
        observed = np.clip(actual / total, EPSILON, None)
        return float(np.sum((observed - expected) * np.log(observed / expected)))


@dataclass(frozen=True)
class Reference:
    features: tuple[FeatureReference, ...]
    classes: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @classmethod
    def from_training(
        cls,
        x: npt.NDArray[np.float64],
        feature_names: Sequence[str],
        classes: Sequence[str],
        seed: int = 0,
    ) -> Reference:
        rng = np.random.default_rng(seed)
        features = []
        for column, name in zip(x.T, feature_names, strict=True):
            edges = np.unique(np.quantile(column, np.linspace(0, 1, BINS + 1)[1:-1]))
            ref = FeatureReference(feature_slug(name), tuple(float(e) for e in edges), (), ())
            counts = ref.counts(column)
            sample = (
                column
                if len(column) <= SAMPLE_SIZE
                else rng.choice(column, SAMPLE_SIZE, replace=False)
            )
            features.append(
                FeatureReference(
                    ref.name,
                    ref.edges,
                    tuple(float(c) for c in counts / counts.sum()),
                    tuple(float(v) for v in sample),
                )
            )
        return cls(tuple(features), tuple(str(c) for c in classes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "features": [
                {
                    "name": f.name,
                    "edges": list(f.edges),
                    "proportions": list(f.proportions),
                    "sample": list(f.sample),
                }
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        return cls(
            tuple(
                FeatureReference(
                    f["name"], tuple(f["edges"]), tuple(f["proportions"]), tuple(f["sample"])
                )
                for f in data["features"]
            ),
            tuple(data["classes"]),
        )

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: Path) -> Reference:
        return cls.from_dict(json.loads(path.read_text()))
