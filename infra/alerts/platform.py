"""Alerts on the monitoring stack itself: scrape targets, the Pushgateway, Prometheus,
Alertmanager, and the Watchdog that proves the alerting path works.

When this machinery fails, every other alert goes quiet instead of firing, so
these are the alerts that say silence is not health.
"""

from __future__ import annotations

from decimal import Decimal

from infra import conventions as cv
from infra.alerts.model import AlertRule
from infra.queries import notification_failure_ratio, push_age, rule_failures, sample_limit_ratio
from infra.spec import AlertThresholds
from infra.units import duration_seconds
from service import catalog as m

GROUP = "mlops-platform"
PUSHGATEWAY_GROUP = "mlops-pushgateway"
PROMETHEUS_GROUP = "mlops-prometheus"
ALERTMANAGER_GROUP = "mlops-alertmanager"
A = cv.Alert
NOTIFICATION_FAILURE_RATIO = Decimal("0.01")
# Jobs that push on a schedule: deployment events are pushed when an alias moves.
BATCH_JOBS = f'job!="",job!="{m.DEPLOYMENT_JOB}"'


def target_down(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.TARGET_DOWN.value,
        GROUP,
        "up == 0",
        "5m",
        cv.Severity.WARNING,
        "{{ $labels.job }} target {{ $labels.instance }} is down.",
        "Prometheus cannot scrape {{ $labels.instance }} of job {{ $labels.job }}: "
        "the process is down or unreachable, and its own alerts cannot fire.",
    )


def pushgateway_job_stale(t: AlertThresholds) -> AlertRule:
    max_age = duration_seconds(t.pushgateway_job_max_age)
    return AlertRule(
        A.PUSHGATEWAY_JOB_STALE.value,
        PUSHGATEWAY_GROUP,
        f"{push_age(BATCH_JOBS)} > {int(max_age)}",
        "10m",
        cv.Severity.WARNING,
        "Batch job {{ $labels.job }} has not pushed metrics for too long.",
        "Nothing from {{ $labels.job }} reached the Pushgateway for {{ $value | humanizeDuration }} "
        f"(allowed: {t.pushgateway_job_max_age}): the job is not running or cannot push.",
        threshold=max_age,
    )


def rule_evaluation_failures(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.PROMETHEUS_RULE_FAILURES.value,
        PROMETHEUS_GROUP,
        f"{rule_failures('5m')} > 0",
        "15m",
        cv.Severity.CRITICAL,
        "Prometheus fails to evaluate rules.",
        "{{ $value | humanize }} evaluations of group {{ $labels.rule_group }} failed in 5 minutes: "
        "alerts and SLOs that depend on them are blind.",
    )


def target_near_sample_limit(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT.value,
        PROMETHEUS_GROUP,
        f"{sample_limit_ratio()}\n> {t.sample_limit_ratio}",
        "15m",
        cv.Severity.WARNING,
        "{{ $labels.job }} target {{ $labels.instance }} nears its sample limit.",
        "{{ $labels.instance }} of job {{ $labels.job }} exposes {{ $value | humanizePercentage }} "
        "of its sample_limit: past its cardinality budget, a new label value away from having "
        "every scrape dropped.",
        threshold=t.sample_limit_ratio,
    )


def target_over_sample_limit(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT.value,
        PROMETHEUS_GROUP,
        "scrape_samples_post_metric_relabeling\n> (scrape_sample_limit > 0)",
        "5m",
        cv.Severity.CRITICAL,
        "Prometheus drops every scrape of {{ $labels.job }} target {{ $labels.instance }}.",
        "{{ $labels.instance }} of job {{ $labels.job }} exposes {{ $value }} samples, more than "
        "its sample_limit: Prometheus keeps none of them, and the alerts reading them are blind.",
    )


def notifications_failing(t: AlertThresholds) -> AlertRule:
    ratio = notification_failure_ratio("job, instance, integration", "5m")
    return AlertRule(
        A.ALERTMANAGER_NOTIFICATIONS_FAILING.value,
        ALERTMANAGER_GROUP,
        f"{ratio}\n> {NOTIFICATION_FAILURE_RATIO}",
        "5m",
        cv.Severity.CRITICAL,
        "Alertmanager cannot deliver {{ $labels.integration }} notifications.",
        "{{ $value | humanizePercentage }} of {{ $labels.integration }} notifications from "
        "{{ $labels.instance }} failed over 5 minutes: people are not being told about alerts.",
        threshold=NOTIFICATION_FAILURE_RATIO,
    )


def watchdog(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.WATCHDOG.value,
        GROUP,
        "vector(1)",
        None,
        cv.Severity.INFO,
        "Alerting works: this alert always fires.",
        "Prometheus evaluates rules and Alertmanager delivers them. The heartbeat receiver "
        "hears this alert every few minutes; when it stops, the alerting path is broken and "
        "no other alert can reach anyone.",
    )


def rules(t: AlertThresholds) -> list[AlertRule]:
    return [
        build(t)
        for build in (
            target_down,
            pushgateway_job_stale,
            rule_evaluation_failures,
            target_near_sample_limit,
            target_over_sample_limit,
            notifications_failing,
            watchdog,
        )
    ]
