"""bench/scale.py's synthetic fleet stays what a real one exposes: the catalog's series, in bounds.

The bench measures the platform's cost on series bench/scale_exporter.py makes up,
so they must be the catalog's (names, label names, bounded label values), cover
every metric a serving pod or the Pushgateway carries, and fit the scrape budgets
the rendered config enforces; otherwise the bench would measure another platform.
No Prometheus is run here.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench import scale
from bench.scale_exporter import (
    Fleet,
    ModelProfile,
    Series,
    exposition,
    profile,
    pushed_series,
    serving_series,
)
from infra import budgets
from infra import conventions as cv
from service import catalog

SERVED = (catalog.Source.SERVING, catalog.Source.BENTOML)
WIDEST = ModelProfile("widest", classes=catalog.MAX_CLASSES, features=catalog.MAX_FEATURES)


def _per_metric(series: list[Series]) -> Counter[str]:
    return Counter(s.metric.name for s in series if s.metric is not None)


@pytest.mark.parametrize("model", [profile(0, "unwell"), profile(3, "well"), WIDEST])
def test_a_replica_exposes_every_serving_metric_with_the_catalogs_labels_within_its_bounds(
    model: ModelProfile,
) -> None:
    series = serving_series(model)
    served = {m.name: m for m in catalog.CATALOG if m.source in SERVED}
    assert {s.metric.name for s in series if s.metric} == set(served)
    for s in series:
        assert s.metric is not None
        names = tuple(k for k, _ in s.labels if k != "le")
        assert names == s.metric.labels, s.name
        assert s.name in s.metric.series()
    for name, count in _per_metric(series).items():
        assert count <= served[name].budget(), name
    assert len(series) <= catalog.serving_budget()
    assert len({(s.name, s.labels) for s in series}) == len(series)


def test_the_pushgateway_holds_every_pushed_metric_per_model_within_the_pushed_budget() -> None:
    series = pushed_series(WIDEST, now=1e9)
    pushed = {m.name: m for m in catalog.CATALOG if m.source is catalog.Source.PUSHGATEWAY}
    assert {s.metric.name for s in series if s.metric} == set(pushed)
    for s in series:
        assert dict(s.labels)["job"] in catalog.BATCH_JOBS
        assert dict(s.labels)["instance"] == ""
        if s.metric is not None:
            assert tuple(k for k, _ in s.labels)[2:] == s.metric.labels, s.name
    for name, count in _per_metric(series).items():
        assert count <= pushed[name].budget(), name
    groups = {(dict(s.labels)["job"]) for s in series if s.name == "push_time_seconds"}
    assert groups == set(catalog.BATCH_JOBS)
    assert len(series) <= catalog.pushed_budget(1)


def test_counters_and_histograms_grow_and_buckets_are_cumulative() -> None:
    early = _samples(exposition(serving_series(profile(1, "m")), 10.0))
    late = _samples(exposition(serving_series(profile(1, "m")), 70.0))
    counters = [k for k in early if k[0].endswith(("_total", "_count", "_bucket"))]
    assert counters
    assert all(late[k] >= early[k] for k in counters)
    assert any(late[k] > early[k] for k in counters)
    predict_ok = [
        v
        for (name, labels), v in late.items()
        if name == f"{catalog.REQUEST_DURATION.name}_bucket"
        and ("endpoint", catalog.PREDICT_ROUTE) in labels
        and ("http_response_code", "200") in labels
    ]
    assert predict_ok == sorted(predict_ok)
    assert len(predict_ok) == len(catalog.REQUEST_DURATION.buckets) + 1


def _samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_a_fleet_serves_each_replica_and_the_pushgateway_on_a_port_of_its_own() -> None:
    fleet = Fleet({"a": [1, 2, 3], "b": [4, 5, 6]}, pushgateway=7)
    pages = fleet.pages(started=0.0)
    assert sorted(pages) == [1, 2, 3, 4, 5, 6, 7]
    assert b'model="b"' in pages[4]()
    assert b'model="a"' not in pages[4]()
    assert pages[7]().count(b"push_time_seconds{") == 2 * len(catalog.BATCH_JOBS)
    assert json.loads(json.dumps(fleet.serving)) == fleet.serving


def test_the_rendered_scrape_config_targets_every_replica_with_its_model_label() -> None:
    spec = scale.fleet_spec("prod", 3, 2)
    fleet = Fleet({m.name: [10 + 2 * i, 11 + 2 * i] for i, m in enumerate(spec.serving.models)}, 9)
    config = yaml.safe_load(scale.scrape_config(spec, scale.endpoints(fleet, 8, 7)))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {
        cv.JOB[c] for c in (cv.Component.PROMETHEUS, cv.Component.SERVING, cv.Component.PUSHGATEWAY)
    }
    static = jobs[cv.JOB[cv.Component.SERVING]]["static_configs"]
    assert {s["labels"][cv.MODEL_LABEL]: s["targets"] for s in static} == {
        name: [f"127.0.0.1:{p}" for p in ports] for name, ports in fleet.serving.items()
    }
    assert jobs[cv.JOB[cv.Component.SERVING]]["honor_labels"] is True


def test_prometheus_keeps_its_own_scrape_at_the_size_the_bench_measured() -> None:
    """bench/scale.py measured 4,115 series on Prometheus' /metrics at 100 models (314 rule
    groups); a fixed budget dropped that scrape, blinding the rule-group panels and alerts."""
    spec = scale.fleet_spec("prod", 100, 3)
    limit = budgets.limits(budgets.job_budget(cv.JOB[cv.Component.PROMETHEUS], spec))
    assert limit["sample_limit"] * 0.8 > 4115  # under PrometheusTargetNearSampleLimit too


def test_queries_are_sent_with_the_step_grafana_picks_for_a_1000_px_panel() -> None:
    assert math.isclose(scale.grafana_interval(6 * 3600, 15), 20)
    assert scale.grafana_interval(3600, 15) == 15
    assert scale.grafana_interval(7 * 86400, 15) == 600
    assert scale.grafana_interval(86400, 15) == 60
