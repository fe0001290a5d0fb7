"""Scrape budgets: how many series each job's target may expose, and the limits Prometheus
enforces from them (`sample_limit`, `label_limit`, `label_value_length_limit`).

Our own targets' budgets are computed from the metric catalog's label bounds
(`service.catalog`); every other job's is stated here once, with where the figure
comes from. A target that grows past its budget raises PrometheusTargetNearSampleLimit
well before Prometheus drops its scrapes (the limit has HEADROOM over the budget), so a
cardinality leak is a warning instead of a blind spot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from infra import conventions as cv
from infra.render.rules import platform_groups
from infra.render.saturation import KEEP
from infra.render.slo import slo_groups
from infra.spec import PlatformSpec
from service import catalog

C = cv.Component

# sample_limit = budget x HEADROOM: a budget is a bound we can argue for, not a measurement
# of the worst case, and a limit hit drops the whole scrape (up == 0). 1.5 leaves a third of
# the limit between "over budget" (the alert's 0.8 x limit = 1.2 x budget) and losing data.
HEADROOM: Final = 1.5
# Labels a series gains at scrape time: job, instance, and at most pod, node, model and
# component from relabelling; plus __name__, which label_limit counts too.
TARGET_LABELS: Final = 6
LABEL_MARGIN: Final = 4
# Longest label value accepted: the longest we expect is a cgroup path or a container image
# on cAdvisor series (about 200 characters on Kubernetes); our own values are at most
# catalog.MAX_NAME_LENGTH. A value longer than this is a bug (say, a URL in a label).
LABEL_VALUE_LENGTH_LIMIT: Final = 512
# Upper bound of the stack's own containers on one node (cAdvisor, kube-state-metrics and the
# kubelet's volume figures count only the platform's, infra.render.saturation).
PLATFORM_CONTAINERS: Final = 64


@dataclass(frozen=True)
class Budget:
    """Series one target of a job may expose, the most labels its series carry (before the
    target's own labels), and where the figures come from."""

    series: int
    labels: int
    source: str


# Measured: the pinned binaries run on 127.0.0.1 with the dev stack's rendered config, after
# API calls, OTLP traffic with failing exporters and rule evaluations (scrape_samples_post_
# metric_relabeling; labels counted on the /metrics page). Upstream: documented or estimated
# from the component's metric families, which are not measured here (not runnable in tests).
THIRD_PARTY: Final[dict[str, Budget]] = {
    cv.JOB[C.PROMETHEUS]: Budget(
        2000,
        7,
        "measured 1,260 on v3.5.0 (dev: 13 jobs, 10 rule groups); each scrape pool adds "
        "prometheus_target_* series: rounded up for staging and prod's kubelet jobs; plus "
        "PROMETHEUS_SERIES_PER_RULE_GROUP for each rule group the stack renders (job_budget)",
    ),
    cv.JOB[C.ALERTMANAGER]: Budget(
        500, 7, "measured 400 on v0.28.1 (its notification series exist for every integration)"
    ),
    cv.JOB[C.OTEL_COLLECTOR]: Budget(
        600,
        11,
        "measured 449 on otelcol-contrib 0.140.1, dev config, telemetry level detailed, after "
        "traces and logs were received and failed to export",
    ),
    cv.JOB[C.MLFLOW]: Budget(
        500,
        6,
        "measured 96 on the locked MLflow after health, search, alias and 404 calls; its "
        "prometheus_flask_exporter adds a histogram and a counter per route and status",
    ),
    cv.JOB[C.LOKI]: Budget(
        6000, 10, "upstream estimate: monolithic Loki 3.x exposes 3,000 to 5,000 series"
    ),
    cv.JOB[C.TEMPO]: Budget(
        5000, 10, "upstream estimate: monolithic Tempo 2.x exposes 2,000 to 4,000 series"
    ),
    cv.JOB[C.GRAFANA]: Budget(
        2500, 8, "upstream estimate: Grafana 11/12 exposes 1,000 to 2,000 series"
    ),
    cv.JOB[C.NODE_EXPORTER]: Budget(
        3000,
        8,
        "upstream estimate: default collectors, about 1,000 series plus 10 per CPU and per "
        "filesystem and network device: 3,000 covers a 128-CPU node",
    ),
    cv.JOB[C.DCGM_EXPORTER]: Budget(
        400,
        12,
        "upstream: the default counters file has about 40 fields per GPU; 8 GPUs a node",
    ),
    cv.JOB[C.CADVISOR]: Budget(
        len(KEEP[cv.JOB[C.CADVISOR]]) * PLATFORM_CONTAINERS * 2,
        14,
        "the kept metrics (infra.render.saturation.KEEP) x the platform's containers on a "
        "node, x2 for network figures per interface",
    ),
    cv.JOB[C.KUBE_STATE_METRICS]: Budget(
        len(KEEP[cv.JOB[C.KUBE_STATE_METRICS]]) * PLATFORM_CONTAINERS * 3,
        10,
        "the allowlisted metrics x the platform's objects (--namespaces), x3 for phases, "
        "conditions and resources a series per value",
    ),
    cv.KUBELET_JOB: Budget(
        len(KEEP[cv.KUBELET_JOB]) * PLATFORM_CONTAINERS,
        8,
        "the kept volume metrics x the platform's volume claims on a node",
    ),
    cv.KUBELET_RESOURCE_JOB: Budget(
        len(KEEP[cv.KUBELET_RESOURCE_JOB]),
        3,
        "the kept node metrics: one series each per node",
    ),
}
# Prometheus' own series per rule group it evaluates (the prometheus_rule_group_* and
# prometheus_rule_evaluation*_total families, labelled rule_group): measured 11 on v3.5.0 by
# bench/scale.py (834 series with 17 groups, 4,115 with 314). Each accuracy SLO brings three
# groups, so at about 70 served models a fixed budget let Prometheus drop its own scrapes.
PROMETHEUS_SERIES_PER_RULE_GROUP: Final = 11
# The Pushgateway's own series (measured 100 on Debian's pushgateway, no group pushed).
PUSHGATEWAY_OWN: Final = 100


def _most_labels(source: catalog.Source) -> int:
    """Labels of the widest catalog series of a source: a histogram bucket adds `le`."""
    return max(
        len(m.labels) + (m.kind is catalog.Kind.HISTOGRAM)
        for m in catalog.CATALOG
        if m.source is source
    )


def job_budget(job: str, spec: PlatformSpec) -> Budget:
    """The budget of one target of JOB on this stack."""
    if job == cv.JOB[C.SERVING]:
        return Budget(
            catalog.serving_budget(),
            max(_most_labels(catalog.Source.SERVING), _most_labels(catalog.Source.BENTOML)),
            "service.catalog: each serving and BentoML metric's label bounds, plus the runtime",
        )
    if job == cv.JOB[C.PUSHGATEWAY]:
        models = len(spec.serving.models)
        return Budget(
            PUSHGATEWAY_OWN + catalog.pushed_budget(models),
            _most_labels(catalog.Source.PUSHGATEWAY) + 2,  # the pusher's job and instance
            f"service.catalog: the batch jobs' pushed groups of {models} model(s), plus its own "
            f"{PUSHGATEWAY_OWN} (measured)",
        )
    if job == cv.JOB[C.PROMETHEUS]:
        groups = len(platform_groups(spec)) + len(slo_groups(spec))
        fixed = THIRD_PARTY[job]
        return Budget(
            fixed.series + PROMETHEUS_SERIES_PER_RULE_GROUP * groups,
            fixed.labels,
            f"{fixed.source}: {groups} rule groups",
        )
    if job == cv.JOB[C.ROLLBACK]:
        models = len(spec.serving.models)
        return Budget(
            catalog.rollback_budget(models),
            _most_labels(catalog.Source.ROLLBACK),
            f"service.catalog: every decision outcome for {models} model(s) and `other`, and "
            "every rejection reason (the service exports nothing else)",
        )
    return THIRD_PARTY[job]


def limits(budget: Budget) -> dict[str, int]:
    """The scrape limits of a job with this budget, as prometheus.yml spells them."""
    return {
        "sample_limit": math.ceil(budget.series * HEADROOM),
        "label_limit": budget.labels + 1 + TARGET_LABELS + LABEL_MARGIN,
        "label_value_length_limit": LABEL_VALUE_LENGTH_LIMIT,
    }
