"""Cardinality budgets: every scrape job's limits follow from a stated budget.

Each job's budget is computed here from the metric catalog (serving, Pushgateway)
or read from the one table of other components' figures, and every rendered job
of every shipped stack must carry a `sample_limit` of at least that budget, a
`label_limit` and a `label_value_length_limit`.
"""

from __future__ import annotations

import math

import pytest
import yaml

from infra import budgets
from infra import conventions as cv
from infra.endpoints import for_spec
from infra.manifests import workloads
from infra.render.prometheus import prometheus_config
from infra.render.rules import platform_rules
from infra.render.slo import slo_rules
from infra.spec import PlatformSpec
from service import catalog
from service.model_store import unbounded_labels
from service.reference import FeatureReference, Reference
from tests.conftest import STACKS, stack_spec

SERVED = (catalog.Source.SERVING, catalog.Source.BENTOML)


def _jobs(spec: PlatformSpec) -> dict[str, dict[str, object]]:
    document = yaml.safe_load(prometheus_config(spec, for_spec(spec)))
    return {job["job_name"]: job for job in document["scrape_configs"]}


def _catalog_budget(job: str, spec: PlatformSpec) -> int:
    """The job's budget worked out from the catalog, metric by metric."""
    if job == cv.JOB[cv.Component.SERVING]:
        series = 0
        for metric in catalog.CATALOG:
            if metric.source in SERVED:
                per_set = len(metric.buckets) + 3 if metric.kind is catalog.Kind.HISTOGRAM else 1
                series += metric.label_sets * per_set
        return series + catalog.SERVING_RUNTIME_SERIES
    if job == cv.JOB[cv.Component.PUSHGATEWAY]:
        pushed = [m for m in catalog.CATALOG if m.source is catalog.Source.PUSHGATEWAY]
        groups = len(catalog.BATCH_JOBS) * catalog.PUSH_GROUP_SERIES
        per_model = sum(m.label_sets for m in pushed) + groups
        return budgets.PUSHGATEWAY_OWN + len(spec.serving.models) * per_model
    if job == cv.JOB[cv.Component.PROMETHEUS]:
        files = (platform_rules(spec), slo_rules(spec))
        groups = sum(len(yaml.safe_load(text)["groups"]) for text in files)
        per_group = budgets.PROMETHEUS_SERIES_PER_RULE_GROUP
        return budgets.THIRD_PARTY[job].series + groups * per_group
    if job == cv.JOB[cv.Component.ROLLBACK]:
        own = [m for m in catalog.CATALOG if m.source is catalog.Source.ROLLBACK]
        decisions = catalog.ROLLBACK_DECISIONS
        per_model = decisions.label_sets * (len(spec.serving.models) + 1)
        return per_model + sum(m.label_sets for m in own if m is not decisions)
    return budgets.THIRD_PARTY[job].series


@pytest.mark.parametrize("stack", STACKS)
def test_every_jobs_sample_limit_is_at_least_its_budget_with_headroom(stack: str) -> None:
    spec = stack_spec(stack)
    for name, job in _jobs(spec).items():
        budget = _catalog_budget(name, spec)
        assert job["sample_limit"] == math.ceil(budget * budgets.HEADROOM) >= budget, name


@pytest.mark.parametrize("stack", STACKS)
def test_every_job_limits_its_labels_and_their_length(stack: str) -> None:
    for name, job in _jobs(stack_spec(stack)).items():
        assert isinstance(job["label_limit"], int), name
        assert job["label_limit"] > budgets.TARGET_LABELS + 1, name
        assert job["label_value_length_limit"] == budgets.LABEL_VALUE_LENGTH_LIMIT, name
    assert budgets.LABEL_VALUE_LENGTH_LIMIT > catalog.MAX_NAME_LENGTH


def test_the_serving_label_limit_covers_its_widest_series_and_the_target_labels() -> None:
    widest = max(
        len(m.labels) + (m.kind is catalog.Kind.HISTOGRAM)
        for m in catalog.CATALOG
        if m.source in SERVED
    )
    limits = budgets.limits(budgets.job_budget(cv.JOB[cv.Component.SERVING], stack_spec("dev")))
    assert limits["label_limit"] >= widest + 1 + budgets.TARGET_LABELS


def test_every_other_job_states_where_its_figure_comes_from() -> None:
    for job, budget in budgets.THIRD_PARTY.items():
        assert budget.series > 0, job
        assert budget.labels > 0, job
        assert len(budget.source) > 20, f"{job}: say where the figure comes from"


def test_a_histograms_budget_counts_its_buckets_inf_sum_and_count() -> None:
    metric = catalog.PREDICTION_CONFIDENCE
    assert metric.budget() == catalog.VERSIONS_PER_TARGET * (len(catalog.CONFIDENCE_BUCKETS) + 3)


def test_the_endpoint_budget_counts_each_routes_status_codes() -> None:
    assert catalog.REQUEST_TOTAL.budget() == sum(len(c) for c in catalog.ENDPOINT_STATUSES.values())
    assert catalog.UNMATCHED_ENDPOINT in catalog.ENDPOINT_STATUSES


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_runs_with_the_scrape_sample_limit_metric(stack: str) -> None:
    (prometheus,) = [
        w for w in workloads(stack_spec(stack)) if w.component is cv.Component.PROMETHEUS
    ]
    assert "--enable-feature=extra-scrape-metrics" in prometheus.args


def _reference(classes: int, features: int, name_length: int = 8) -> Reference:
    feature = FeatureReference("f" * name_length, (0.0,), (0.5, 0.5), (0.0,))
    return Reference((feature,) * features, tuple(f"c{i}" for i in range(classes)))


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        (_reference(3, 4), None),
        (_reference(catalog.MAX_CLASSES, catalog.MAX_FEATURES), None),
        (_reference(catalog.MAX_CLASSES + 1, 4), "33 classes, more than the 32"),
        (_reference(3, catalog.MAX_FEATURES + 1), "65 features, more than the 64"),
        (_reference(3, 4, catalog.MAX_NAME_LENGTH + 1), "129 characters, more than 128"),
    ],
    ids=["iris", "at the bounds", "too many classes", "too many features", "a name too long"],
)
def test_a_model_beyond_the_label_bounds_is_not_served(
    reference: Reference, problem: str | None
) -> None:
    found = unbounded_labels(reference)
    assert found == problem if problem is None else problem in (found or "")
