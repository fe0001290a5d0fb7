"""The serving metrics object on a fresh registry per test: what each method moves, and off."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.utils import floatToGoString

from service import catalog as c
from service.feedback import OUTCOMES
from service.ml_metrics import (
    LOAD_FAILURE_REASONS,
    REJECTION_REASONS,
    Metrics,
    MlMetrics,
    NoMlMetrics,
    from_settings,
)
from service.settings import ServingSettings

SERVING = tuple(m for m in c.CATALOG if m.source is c.Source.SERVING)
Key = tuple[str, frozenset[tuple[str, str]]]


def _key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def _samples(registry: CollectorRegistry) -> dict[Key, float]:
    """Every series but counters' `_created` timestamps."""
    return {
        _key(s.name, **s.labels): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _moved(registry: CollectorRegistry, record: Callable[[], None]) -> dict[Key, float]:
    """The series `record` created or changed, with their values after it."""
    before = _samples(registry)
    record()
    after = _samples(registry)
    return {k: v for k, v in after.items() if k not in before or not _same(before[k], v)}


def _le(bound: float) -> str:
    """A bucket's `le` as prometheus_client writes it."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def _confidence(model: str, version: str, values: Sequence[float]) -> dict[Key, float]:
    bucket, count, total = c.PREDICTION_CONFIDENCE.series()
    labels = {"model": model, "model_version": version}
    bounds = (*c.PREDICTION_CONFIDENCE.buckets, math.inf)
    buckets = {
        _key(bucket, **labels, le=_le(b)): float(sum(v <= b for v in values)) for b in bounds
    }
    return buckets | {_key(count, **labels): len(values), _key(total, **labels): sum(values)}


def _initialised(model: str) -> dict[Key, float]:
    rejected = {_key(c.REJECTED_INPUTS.name, model=model, reason=r): 0.0 for r in REJECTION_REASONS}
    failures = {
        _key(c.MODEL_LOAD_FAILURES.name, model=model, reason=r): 0.0 for r in LOAD_FAILURE_REASONS
    }
    feedback = {_key(c.FEEDBACK.name, model=model, outcome=o): 0.0 for o in OUTCOMES}
    gauges = {_key(g.name, model=model): 0.0 for g in (c.MODEL_LOADED, c.FEEDBACK_PENDING)}
    return rejected | failures | feedback | gauges


def _nothing(_: Metrics) -> None:
    pass


@dataclass(frozen=True)
class Case:
    sentence: str
    record: Callable[[Metrics], None]
    moved: dict[Key, float]
    before: Callable[[Metrics], None] = _nothing


CASES = (
    Case(
        "initialising creates the fixed series at zero",
        lambda m: m.initialise("m"),
        _initialised("m"),
    ),
    Case(
        "a rejected request counts once under its reason",
        lambda m: m.rejected_request("m", "wrong_type"),
        {_key(c.REJECTED_INPUTS.name, model="m", reason="wrong_type"): 1},
    ),
    Case(
        "a batch counts each predicted class and observes each confidence",
        lambda m: m.predictions("m", "3", ["setosa", "setosa", "virginica"], [0.5, 0.75, 1.0]),
        {
            _key(c.PREDICTIONS.name, model="m", model_version="3", predicted_class="setosa"): 2,
            _key(c.PREDICTIONS.name, model="m", model_version="3", predicted_class="virginica"): 1,
            **_confidence("m", "3", [0.5, 0.75, 1.0]),
        },
    ),
    Case(
        "a batch adds the predictions it expects to be right, by whether they were calibrated",
        lambda m: m.expected_correct("m", "3", True, 2.25),
        {
            _key(
                c.EXPECTED_CORRECT_PREDICTIONS.name, model="m", model_version="3", calibrated="true"
            ): 2.25
        },
    ),
    Case(
        "a version without a calibration adds its raw confidences to its calibrated false count",
        lambda m: m.expected_correct("m", "2", False, 0.5),
        {
            _key(
                c.EXPECTED_CORRECT_PREDICTIONS.name,
                model="m",
                model_version="2",
                calibrated="false",
            ): 1.5
        },
        before=lambda m: m.expected_correct("m", "2", False, 1.0),
    ),
    Case(
        "pending labels set the gauge to the count",
        lambda m: m.pending_labels("m", 7),
        {_key(c.FEEDBACK_PENDING.name, model="m"): 7},
    ),
    Case(
        "a feedback outcome counts once",
        lambda m: m.feedback_outcome("m", "duplicate"),
        {_key(c.FEEDBACK.name, model="m", outcome="duplicate"): 1},
    ),
    Case(
        "a labelled prediction counts right or wrong and sets accuracy and macro F1",
        lambda m: m.labelled_prediction("m", "3", False, 0.5, 0.25),
        {
            _key(c.LABELLED_PREDICTIONS.name, model="m", model_version="3", correct="false"): 1,
            _key(c.MODEL_ACCURACY.name, model="m", model_version="3"): 0.5,
            _key(c.MODEL_MACRO_F1.name, model="m", model_version="3"): 0.25,
        },
    ),
    Case(
        "the first version served is the model's info and the model is loaded",
        lambda m: m.model_served("m", "champion", "3", None),
        {
            _key(c.MODEL_INFO.name, model="m", model_version="3", model_alias="champion"): 1,
            _key(c.MODEL_LOADED.name, model="m"): 1,
        },
    ),
    Case(
        "a new version takes the model's info from the previous one",
        lambda m: m.model_served("m", "champion", "4", "3"),
        {
            _key(c.MODEL_INFO.name, model="m", model_version="3", model_alias="champion"): 0,
            _key(c.MODEL_INFO.name, model="m", model_version="4", model_alias="champion"): 1,
        },
        before=lambda m: m.model_served("m", "champion", "3", None),
    ),
    Case(
        "a load failure counts once under its reason",
        lambda m: m.load_failure("m", "alias_not_found"),
        {_key(c.MODEL_LOAD_FAILURES.name, model="m", reason="alias_not_found"): 1},
    ),
    Case(
        "a feature's drift is its PSI",
        lambda m: m.feature_drift("m", "petal_width_cm", 0.3),
        {_key(c.FEATURE_DRIFT_PSI.name, model="m", feature="petal_width_cm"): 0.3},
    ),
    Case(
        "NaN withdraws a feature's drift score",
        lambda m: m.feature_drift("m", "petal_width_cm", math.nan),
        {_key(c.FEATURE_DRIFT_PSI.name, model="m", feature="petal_width_cm"): math.nan},
        before=lambda m: m.feature_drift("m", "petal_width_cm", 0.3),
    ),
)


def _family(metric: c.Metric) -> str:
    """prometheus_client names a counter's family without `_total`."""
    return metric.name.removesuffix("_total") if metric.kind is c.Kind.COUNTER else metric.name


def _settings(*, ml_metrics: bool) -> ServingSettings:
    return ServingSettings(
        mlflow_tracking_uri="http://127.0.0.1:5000", model_name="m", ml_metrics=ml_metrics
    )


def _interface(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def test_the_metrics_register_exactly_the_catalogs_serving_families() -> None:
    registry = CollectorRegistry()
    MlMetrics(registry)
    registered = {(f.name, f.type, f.documentation) for f in registry.collect()}
    assert registered == {(_family(m), m.kind.value, m.help) for m in SERVING}


@pytest.mark.parametrize("case", CASES, ids=[case.sentence for case in CASES])
def test_each_method_moves_exactly_its_series(case: Case) -> None:
    registry = CollectorRegistry()
    metrics = MlMetrics(registry)
    case.before(metrics)
    moved = _moved(registry, lambda: case.record(metrics))
    assert moved.keys() == case.moved.keys()
    for key, value in case.moved.items():
        assert _same(moved[key], value), key


def test_every_serving_metric_is_moved_by_some_method_with_exactly_its_catalog_labels() -> None:
    registry = CollectorRegistry()
    metrics = MlMetrics(registry)
    for case in CASES:
        case.before(metrics)
        case.record(metrics)
    catalog = {name: m for m in SERVING for name in m.series()}
    samples = _samples(registry)
    assert {name for name, _ in samples} == set(catalog)
    for name, labels in samples:
        assert {k for k, _ in labels} - {"le"} == set(catalog[name].labels), name


def test_metrics_off_register_and_record_nothing() -> None:
    registry = CollectorRegistry()
    metrics = from_settings(_settings(ml_metrics=False), registry)
    assert isinstance(metrics, NoMlMetrics)
    before = _samples(REGISTRY)
    for case in CASES:
        case.before(metrics)
        case.record(metrics)
    assert list(registry.collect()) == []
    assert {k: v for k, v in _samples(REGISTRY).items() if k[0].startswith("mlops_")} == {
        k: v for k, v in before.items() if k[0].startswith("mlops_")
    }


def test_metrics_on_are_the_real_metrics_on_the_registry_given() -> None:
    registry = CollectorRegistry()
    metrics = from_settings(_settings(ml_metrics=True), registry)
    assert isinstance(metrics, MlMetrics)
    metrics.load_failure("m", "load_error")
    labels = {"model": "m", "reason": "load_error"}
    assert registry.get_sample_value(c.MODEL_LOAD_FAILURES.name, labels) == 1


def test_the_silent_metrics_and_the_protocol_have_exactly_the_real_interface() -> None:
    real = _interface(MlMetrics)
    assert real
    assert _interface(NoMlMetrics) == real
    assert _interface(Metrics) == real


def test_two_metrics_on_two_registries_share_no_state() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    one, other = MlMetrics(first), MlMetrics(second)
    for case in CASES:
        case.before(one)
        case.record(one)
    assert _samples(second) == {}
    other.rejected_request("m", "wrong_type")
    other.predictions("m", "3", ["setosa"], [0.5])
    name, labels = c.REJECTED_INPUTS.name, {"model": "m", "reason": "wrong_type"}
    assert first.get_sample_value(name, labels) == 1
    assert second.get_sample_value(name, labels) == 1
    counted = {"model": "m", "model_version": "3", "predicted_class": "setosa"}
    assert first.get_sample_value(c.PREDICTIONS.name, counted) == 2
    assert second.get_sample_value(c.PREDICTIONS.name, counted) == 1
