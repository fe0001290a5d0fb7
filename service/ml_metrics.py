"""The serving API's own metrics, built from the catalog with prometheus_client.

BentoML serves them on its `/metrics` next to its request metrics (it runs
prometheus_client in multiprocess mode, so each gauge says how workers'
values combine). Label children are bound once per model version and class:
`.labels()` costs more than the increment itself.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge, Histogram

from service import catalog as c

PREDICTIONS = Counter(
    c.PREDICTIONS.name.removesuffix("_total"), c.PREDICTIONS.help, c.PREDICTIONS.labels
)
CONFIDENCE = Histogram(
    c.PREDICTION_CONFIDENCE.name,
    c.PREDICTION_CONFIDENCE.help,
    c.PREDICTION_CONFIDENCE.labels,
    buckets=c.PREDICTION_CONFIDENCE.buckets,
)
REJECTED = Counter(
    c.REJECTED_INPUTS.name.removesuffix("_total"), c.REJECTED_INPUTS.help, c.REJECTED_INPUTS.labels
)
LOAD_FAILURES = Counter(
    c.MODEL_LOAD_FAILURES.name.removesuffix("_total"),
    c.MODEL_LOAD_FAILURES.help,
    c.MODEL_LOAD_FAILURES.labels,
)
MODEL_INFO = Gauge(
    c.MODEL_INFO.name, c.MODEL_INFO.help, c.MODEL_INFO.labels, multiprocess_mode="livemax"
)
MODEL_LOADED = Gauge(
    c.MODEL_LOADED.name, c.MODEL_LOADED.help, c.MODEL_LOADED.labels, multiprocess_mode="livemin"
)
FEATURE_DRIFT = Gauge(
    c.FEATURE_DRIFT_PSI.name,
    c.FEATURE_DRIFT_PSI.help,
    c.FEATURE_DRIFT_PSI.labels,
    # The latest judgement wins: a worker that moved to a new version withdraws the old
    # version's score (NaN), which `max` across workers would order arbitrarily.
    multiprocess_mode="livemostrecent",
)

FEEDBACK = Counter(c.FEEDBACK.name.removesuffix("_total"), c.FEEDBACK.help, c.FEEDBACK.labels)
LABELLED = Counter(
    c.LABELLED_PREDICTIONS.name.removesuffix("_total"),
    c.LABELLED_PREDICTIONS.help,
    c.LABELLED_PREDICTIONS.labels,
)
ACCURACY = Gauge(
    c.MODEL_ACCURACY.name,
    c.MODEL_ACCURACY.help,
    c.MODEL_ACCURACY.labels,
    multiprocess_mode="livemax",
)
MACRO_F1 = Gauge(
    c.MODEL_MACRO_F1.name,
    c.MODEL_MACRO_F1.help,
    c.MODEL_MACRO_F1.labels,
    multiprocess_mode="livemax",
)
PENDING = Gauge(
    c.FEEDBACK_PENDING.name,
    c.FEEDBACK_PENDING.help,
    c.FEEDBACK_PENDING.labels,
    multiprocess_mode="livesum",
)

# Why a request was refused: a closed set, so the label stays bounded.
REJECTION_REASONS = (
    "malformed_json",
    "wrong_type",
    "wrong_feature_count",
    "not_finite",
    "empty_batch",
    "batch_too_large",
    "body_too_large",
    "model_not_loaded",
    "bad_feedback",
)
LOAD_FAILURE_REASONS = (
    "registry_unreachable",
    "alias_not_found",
    "load_error",
    "reference_missing",
)


@cache
def prediction_counter(model: str, version: str, predicted_class: str) -> Counter:
    return PREDICTIONS.labels(model=model, model_version=version, predicted_class=predicted_class)


@cache
def confidence_histogram(model: str, version: str) -> Histogram:
    return CONFIDENCE.labels(model=model, model_version=version)


@cache
def rejected_counter(model: str, reason: str) -> Counter:
    return REJECTED.labels(model=model, reason=reason)


def initialise(model: str) -> None:
    """Create the fixed series up front, so dashboards show zero instead of no data."""
    for reason in REJECTION_REASONS:
        rejected_counter(model, reason)
    for reason in LOAD_FAILURE_REASONS:
        LOAD_FAILURES.labels(model=model, reason=reason)
    MODEL_LOADED.labels(model=model).set(0)
    from service.feedback import OUTCOMES  # noqa: PLC0415

    for outcome in OUTCOMES:
        FEEDBACK.labels(model=model, outcome=outcome)
    PENDING.labels(model=model).set(0)
