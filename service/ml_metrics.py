"""The serving API's own metrics: one object, built from the catalog on the registry it is given.

The service holds one `Metrics`, chosen once from its settings: `MlMetrics` on the
process's registry, or `NoMlMetrics`, which records nothing, when ML metrics are
off. Tests give each `MlMetrics` a fresh registry. BentoML serves the values on
its `/metrics` next to its request metrics (it runs prometheus_client in
multiprocess mode, so each gauge says how workers' values combine).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Literal, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from service import catalog as c
from service.settings import ServingSettings

# Closed sets, so the labels stay bounded (the catalog counts them in each metric's budget).
REJECTION_REASONS = c.REJECTION_REASONS
LOAD_FAILURE_REASONS = c.LOAD_FAILURE_REASONS

Live = Literal["livemax", "livemin", "livesum", "livemostrecent"]


class Metrics(Protocol):
    """What the service records, each for the model it serves."""

    def initialise(self, model: str) -> None:
        """Create the fixed series up front, so dashboards show zero instead of no data."""

    def rejected_request(self, model: str, reason: str) -> None:
        """A request refused before prediction, by reason."""

    def predictions(
        self, model: str, version: str, classes: Sequence[str], confidences: Iterable[float]
    ) -> None:
        """A batch's predicted classes and the confidence of each."""

    def expected_correct(self, model: str, version: str, calibrated: bool, expected: float) -> None:
        """How many of a batch's predictions are expected to be right (the sum of their
        calibrated confidences; raw ones when `calibrated` is false)."""

    def pending_labels(self, model: str, count: int) -> None:
        """How many recent predictions are kept to match feedback with."""

    def feedback_outcome(self, model: str, outcome: str) -> None:
        """What became of one true label."""

    def labelled_prediction(
        self, model: str, version: str, correct: bool, accuracy: float, macro_f1: float
    ) -> None:
        """A matched label: right or wrong, and the version's rolling accuracy and macro F1."""

    def model_served(self, model: str, alias: str, version: str, previous: str | None) -> None:
        """`version` now serves behind `alias`, replacing `previous` (None on the first load)."""

    def load_failure(self, model: str, reason: str) -> None:
        """A failed attempt to load the model, by reason."""

    def feature_drift(self, model: str, feature: str, psi: float) -> None:
        """A feature's PSI now; NaN withdraws its score ("not judged yet")."""


def _counter(metric: c.Metric, registry: CollectorRegistry) -> Counter:
    # prometheus_client appends `_total` itself.
    name = metric.name.removesuffix("_total")
    return Counter(name, metric.help, metric.labels, registry=registry)


def _gauge(metric: c.Metric, registry: CollectorRegistry, mode: Live) -> Gauge:
    return Gauge(metric.name, metric.help, metric.labels, registry=registry, multiprocess_mode=mode)


def _histogram(metric: c.Metric, registry: CollectorRegistry) -> Histogram:
    return Histogram(
        metric.name, metric.help, metric.labels, registry=registry, buckets=metric.buckets
    )


class MlMetrics:
    """The serving metrics of the catalog, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._predictions = _counter(c.PREDICTIONS, registry)
        self._confidence = _histogram(c.PREDICTION_CONFIDENCE, registry)
        self._expected = _counter(c.EXPECTED_CORRECT_PREDICTIONS, registry)
        self._rejected = _counter(c.REJECTED_INPUTS, registry)
        self._load_failures = _counter(c.MODEL_LOAD_FAILURES, registry)
        self._model_info = _gauge(c.MODEL_INFO, registry, "livemax")
        self._model_loaded = _gauge(c.MODEL_LOADED, registry, "livemin")
        # The latest judgement wins: a worker that moved to a new version withdraws the old
        # version's score (NaN), which `max` across workers would order arbitrarily.
        self._feature_drift = _gauge(c.FEATURE_DRIFT_PSI, registry, "livemostrecent")
        self._feedback = _counter(c.FEEDBACK, registry)
        self._labelled = _counter(c.LABELLED_PREDICTIONS, registry)
        self._accuracy = _gauge(c.MODEL_ACCURACY, registry, "livemax")
        self._macro_f1 = _gauge(c.MODEL_MACRO_F1, registry, "livemax")
        self._pending = _gauge(c.FEEDBACK_PENDING, registry, "livesum")
        # The request path's children, bound once: `.labels()` costs more than `.inc()`.
        self._prediction = cache(self._predictions.labels)
        self._confidence_of = cache(self._confidence.labels)
        self._expected_of = cache(self._expected.labels)
        self._rejection = cache(self._rejected.labels)
        self._pending_of = cache(self._pending.labels)

    def initialise(self, model: str) -> None:
        for reason in REJECTION_REASONS:
            self._rejection(model=model, reason=reason)
        for reason in LOAD_FAILURE_REASONS:
            self._load_failures.labels(model=model, reason=reason)
        for outcome in c.FEEDBACK_OUTCOMES:
            self._feedback.labels(model=model, outcome=outcome)
        self._model_loaded.labels(model=model).set(0)
        self._pending.labels(model=model).set(0)

    def rejected_request(self, model: str, reason: str) -> None:
        self._rejection(model=model, reason=reason).inc()

    def predictions(
        self, model: str, version: str, classes: Sequence[str], confidences: Iterable[float]
    ) -> None:
        histogram = self._confidence_of(model=model, model_version=version)
        for predicted, confidence in zip(classes, confidences, strict=True):
            self._prediction(model=model, model_version=version, predicted_class=predicted).inc()
            histogram.observe(confidence)

    def expected_correct(self, model: str, version: str, calibrated: bool, expected: float) -> None:
        flag = "true" if calibrated else "false"
        self._expected_of(model=model, model_version=version, calibrated=flag).inc(expected)

    def pending_labels(self, model: str, count: int) -> None:
        self._pending_of(model=model).set(count)

    def feedback_outcome(self, model: str, outcome: str) -> None:
        self._feedback.labels(model=model, outcome=outcome).inc()

    def labelled_prediction(
        self, model: str, version: str, correct: bool, accuracy: float, macro_f1: float
    ) -> None:
        right = str(correct).lower()
        self._labelled.labels(model=model, model_version=version, correct=right).inc()
        self._accuracy.labels(model=model, model_version=version).set(accuracy)
        self._macro_f1.labels(model=model, model_version=version).set(macro_f1)

    def model_served(self, model: str, alias: str, version: str, previous: str | None) -> None:
        if previous is not None:
            self._model_info.labels(model=model, model_version=previous, model_alias=alias).set(0)
        self._model_info.labels(model=model, model_version=version, model_alias=alias).set(1)
        self._model_loaded.labels(model=model).set(1)

    def load_failure(self, model: str, reason: str) -> None:
        self._load_failures.labels(model=model, reason=reason).inc()

    def feature_drift(self, model: str, feature: str, psi: float) -> None:
        self._feature_drift.labels(model=model, feature=feature).set(psi)


class NoMlMetrics:
    """The same interface, recording nothing: what the service holds when ML metrics are off."""

    def initialise(self, model: str) -> None:
        pass

    def rejected_request(self, model: str, reason: str) -> None:
        pass

    def predictions(
        self, model: str, version: str, classes: Sequence[str], confidences: Iterable[float]
    ) -> None:
        pass

    def expected_correct(self, model: str, version: str, calibrated: bool, expected: float) -> None:
        pass

    def pending_labels(self, model: str, count: int) -> None:
        pass

    def feedback_outcome(self, model: str, outcome: str) -> None:
        pass

    def labelled_prediction(
        self, model: str, version: str, correct: bool, accuracy: float, macro_f1: float
    ) -> None:
        pass

    def model_served(self, model: str, alias: str, version: str, previous: str | None) -> None:
        pass

    def load_failure(self, model: str, reason: str) -> None:
        pass

    def feature_drift(self, model: str, feature: str, psi: float) -> None:
        pass


NO_ML_METRICS = NoMlMetrics()


def from_settings(settings: ServingSettings, registry: CollectorRegistry = REGISTRY) -> Metrics:
    """The service's metrics, by default on prometheus_client's global registry: BentoML's
    `/metrics` shows it (in multiprocess mode, the workers' files its metrics write)."""
    return MlMetrics(registry) if settings.ml_metrics else NO_ML_METRICS
