"""A world whose true accuracy is known: one Gaussian per iris class, fitted to all of iris.

Inputs are drawn from it, and labels from its posterior P(class | input), so the accuracy any
model should have on any inputs is known. A covariate shift moves the inputs and keeps the
posterior; a concept shift keeps the inputs and changes the posterior. Used in-process
(tests/service/test_estimation_limits.py) and live (tests/live/test_estimation.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris

Floats = np.ndarray[Any, Any]


@dataclass(frozen=True)
class World:
    means: list[Floats]
    covariances: list[Floats]
    rng: np.random.Generator

    @classmethod
    def of_iris(cls, seed: int) -> World:
        iris = load_iris()
        classes = range(len(iris.target_names))
        return cls(
            [iris.data[iris.target == k].mean(axis=0) for k in classes],
            [np.cov(iris.data[iris.target == k].T) for k in classes],
            np.random.default_rng(seed),
        )

    def inputs(self, classes: tuple[int, ...], rows: int) -> Floats:
        each = rows // len(classes)
        return np.concatenate(
            [
                self.rng.multivariate_normal(self.means[k], self.covariances[k], each)
                for k in classes
            ]
        )

    def boundary(self, rows: int, spread: float) -> Floats:
        """Inputs between versicolor and virginica: around the midpoint of their means, with
        their mean covariance scaled down SPREAD times (the larger, the nearer the boundary)."""
        middle = (self.means[1] + self.means[2]) / 2
        covariance = (self.covariances[1] + self.covariances[2]) / (2 * spread)
        inputs: Floats = self.rng.multivariate_normal(middle, covariance, rows)
        return inputs

    def labels(self, x: Floats, relabel: tuple[int, ...] = (0, 1, 2)) -> Floats:
        """Labels drawn from the world's posterior; `relabel` changes what each class is called."""
        density = np.stack(
            [
                multivariate_normal(m, c).pdf(x)
                for m, c in zip(self.means, self.covariances, strict=True)
            ],
            axis=1,
        )
        posterior = density / density.sum(axis=1, keepdims=True)
        drawn = (self.rng.random((len(x), 1)) > np.cumsum(posterior, axis=1)).sum(axis=1)
        labels: Floats = np.asarray(relabel)[drawn]
        return labels
