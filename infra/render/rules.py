"""Platform alert rules: the serving API, the model's life, and the monitoring stack itself.

Each alert is data (`AlertRule`); the spec's thresholds fill in the numbers and
its `alertOverrides` may disable an alert or change its `for` and severity.
Every alert gets `severity`, `summary`, `description` and a `runbook_url` built
from the stack's pattern, as the Prometheus mixins do.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infra import conventions as cv
from infra.render._yaml import dump
from infra.spec import PlatformSpec
from infra.units import duration_seconds
from service import catalog as m

A = cv.Alert
SERVING = f'job="{cv.JOB[cv.Component.SERVING]}"'
PREDICT = f'{SERVING},endpoint="{m.PREDICT_ROUTE}"'


@dataclass(frozen=True)
class AlertRule:
    name: cv.Alert
    group: str
    expr: str
    for_: str | None
    severity: cv.Severity
    summary: str
    description: str


def number(value: float | Decimal) -> str:
    """A number as PromQL reads it, exactly as written: 0.05, 1, 100, 0.0144 (never 5e-02)."""
    return format(Decimal(repr(value) if isinstance(value, float) else value).normalize(), "f")


def platform_alerts(spec: PlatformSpec) -> list[AlertRule]:
    """Every platform alert with the stack's thresholds, before overrides."""
    t = spec.alerts
    error_ratio = number(t.serving_error_ratio)
    p95 = number(t.serving_latency_p95_seconds)
    confidence = number(t.min_prediction_confidence)
    psi = number(t.drift_psi)
    window, confidence_window = t.serving_window, t.confidence_window
    error_rate = number(1 - Decimal(repr(t.min_accuracy)))
    labelled = f"{m.LABELLED_PREDICTIONS.name}{{{SERVING}}}"
    wrong = f'{m.LABELLED_PREDICTIONS.name}{{{SERVING},correct="false"}}'
    by_version = "sum by (model, model_version)"
    acc_window = t.accuracy_window
    window_text, confidence_text = spoken(window), spoken(confidence_window)
    max_age = int(duration_seconds(t.model_max_age))
    push_age = int(duration_seconds(t.pushgateway_job_max_age))
    return [
        AlertRule(
            A.TARGET_DOWN,
            "platform",
            "up == 0",
            "5m",
            cv.Severity.WARNING,
            "{{ $labels.job }} target {{ $labels.instance }} is down.",
            "Prometheus cannot scrape {{ $labels.instance }} of job {{ $labels.job }}: "
            "the process is down or unreachable, and its own alerts cannot fire.",
        ),
        AlertRule(
            A.SERVING_HIGH_ERROR_RATIO,
            "serving",
            f'sum by (model) (rate({m.REQUEST_TOTAL.name}{{{PREDICT},http_response_code=~"5.."}}[{window}]))\n'
            f"/\nsum by (model) (rate({m.REQUEST_TOTAL.name}{{{PREDICT}}}[{window}]))\n> {error_ratio}",
            "5m",
            cv.Severity.CRITICAL,
            "Model {{ $labels.model }} answers too many requests with a server error.",
            "{{ $value | humanizePercentage }} of requests to {{ $labels.model }} failed with a 5xx "
            f"over the last {window_text} (threshold {number(Decimal(repr(t.serving_error_ratio)) * 100)}%).",
        ),
        AlertRule(
            A.SERVING_HIGH_LATENCY_P95,
            "serving",
            f"histogram_quantile(0.95, sum by (model, le) "
            f"(rate({m.REQUEST_DURATION.name}_bucket{{{PREDICT}}}[{window}])))\n> {p95}",
            "10m",
            cv.Severity.WARNING,
            "Model {{ $labels.model }} is slow.",
            "The 95th percentile latency of {{ $labels.model }} is {{ $value | humanizeDuration }} "
            f"(threshold {p95}s).",
        ),
        AlertRule(
            A.SERVING_MODEL_NOT_LOADED,
            "serving",
            f"{m.MODEL_LOADED.name}{{{SERVING}}} == 0",
            "5m",
            cv.Severity.CRITICAL,
            "Serving replica {{ $labels.instance }} has no model loaded.",
            "{{ $labels.instance }} could not load {{ $labels.model }} from the MLflow registry "
            "and refuses predictions; check the registry, the alias and the load-failure counter.",
        ),
        AlertRule(
            A.SERVING_LOW_CONFIDENCE,
            "serving",
            f"sum by (model, model_version) (rate({m.PREDICTION_CONFIDENCE.name}_sum{{{SERVING}}}[{confidence_window}]))\n"
            f"/\nsum by (model, model_version) (rate({m.PREDICTION_CONFIDENCE.name}_count{{{SERVING}}}[{confidence_window}]))\n"
            f"< {confidence}",
            "30m",
            cv.Severity.WARNING,
            "Model {{ $labels.model }} v{{ $labels.model_version }} is unsure of its predictions.",
            f"Mean confidence of {{{{ $labels.model }}}} version {{{{ $labels.model_version }}}} over {confidence_text} "
            f'is {{{{ printf "%.2f" $value }}}} (threshold {confidence}): inputs may have moved '
            "away from the training data.",
        ),
        AlertRule(
            A.SERVING_LOW_ACCURACY,
            "serving",
            # Judged on wrong answers: a window with no wrong answer has no series, and is fine.
            f"(\n  {by_version} (increase({wrong}[{acc_window}]))\n  /\n"
            f"  {by_version} (increase({labelled}[{acc_window}]))\n) > {error_rate}\n"
            f"and\n{by_version} (increase({labelled}[{acc_window}])) >= {t.min_labelled_predictions}\n"
            # Only the version being served: a rolled-back version's bad hour is history.
            f"and on (model, model_version)\n{by_version} ({m.MODEL_INFO.name}{{{SERVING}}} == 1)",
            "15m",
            cv.Severity.CRITICAL,
            "Model {{ $labels.model }} v{{ $labels.model_version }} gets too many answers wrong.",
            f"Ground truth says {{{{ $value | humanizePercentage }}}} of the labelled predictions of "
            f"{{{{ $labels.model }}}} version {{{{ $labels.model_version }}}} over {spoken(acc_window)} "
            f"were wrong (accuracy floor {number(t.min_accuracy)}, judged on at least "
            f"{t.min_labelled_predictions} labels): roll back to the previous champion.",
        ),
        AlertRule(
            A.SERVING_FEATURE_DRIFT,
            "serving",
            f"max by (model, feature) ({m.FEATURE_DRIFT_PSI.name}{{{SERVING}}}) > {psi}",
            "30m",
            cv.Severity.WARNING,
            "Feature {{ $labels.feature }} of {{ $labels.model }} has drifted.",
            "The population stability index of {{ $labels.feature }} against the training reference "
            f'is {{{{ printf "%.2f" $value }}}} (threshold {psi}).',
        ),
        AlertRule(
            A.TRAINING_MODEL_STALE,
            "training",
            f"time() - max by (model) ({m.TRAINING_LAST_SUCCESS.name}) > {max_age}",
            "10m",
            cv.Severity.WARNING,
            "Model {{ $labels.model }} has not been retrained for too long.",
            "The last successful training of {{ $labels.model }} was {{ $value | humanizeDuration }} ago "
            f"(allowed: {t.model_max_age}).",
        ),
        AlertRule(
            A.TRAINING_JOB_FAILED,
            "training",
            f"max by (model) ({m.TRAINING_LAST_RUN_SUCCESS.name}) == 0",
            None,
            cv.Severity.WARNING,
            "The last training run of {{ $labels.model }} failed.",
            "The training job reported failure for {{ $labels.model }}; the served version stays "
            "as it was. Check the run in MLflow.",
        ),
        AlertRule(
            A.PUSHGATEWAY_JOB_STALE,
            "pushgateway",
            # Deployment events are pushed when an alias moves, not on a schedule.
            f'time() - max by (job) (push_time_seconds{{job!="",job!="{m.DEPLOYMENT_JOB}"}}) > {push_age}',
            "10m",
            cv.Severity.WARNING,
            "Batch job {{ $labels.job }} has not pushed metrics for too long.",
            "Nothing from {{ $labels.job }} reached the Pushgateway for {{ $value | humanizeDuration }} "
            f"(allowed: {t.pushgateway_job_max_age}): the job is not running or cannot push.",
        ),
        AlertRule(
            A.PROMETHEUS_RULE_FAILURES,
            "prometheus",
            f'increase(prometheus_rule_evaluation_failures_total{{job="{cv.JOB[cv.Component.PROMETHEUS]}"}}[5m]) > 0',
            "15m",
            cv.Severity.CRITICAL,
            "Prometheus fails to evaluate rules.",
            "{{ $value | humanize }} evaluations of group {{ $labels.rule_group }} failed in 5 minutes: "
            "alerts and SLOs that depend on them are blind.",
        ),
        AlertRule(
            A.ALERTMANAGER_NOTIFICATIONS_FAILING,
            "alertmanager",
            "sum by (job, instance, integration) "
            f'(rate(alertmanager_notifications_failed_total{{job="{cv.JOB[cv.Component.ALERTMANAGER]}"}}[5m]))\n'
            "/\nsum by (job, instance, integration) "
            f'(rate(alertmanager_notifications_total{{job="{cv.JOB[cv.Component.ALERTMANAGER]}"}}[5m]))\n'
            "> 0.01",
            "5m",
            cv.Severity.CRITICAL,
            "Alertmanager cannot deliver {{ $labels.integration }} notifications.",
            "{{ $value | humanizePercentage }} of {{ $labels.integration }} notifications from "
            "{{ $labels.instance }} failed over 5 minutes: people are not being told about alerts.",
        ),
        AlertRule(
            A.WATCHDOG,
            "platform",
            "vector(1)",
            None,
            cv.Severity.INFO,
            "Alerting works: this alert always fires.",
            "Prometheus evaluates rules and Alertmanager delivers them. The heartbeat receiver "
            "hears this alert every few minutes; when it stops, the alerting path is broken and "
            "no other alert can reach anyone.",
        ),
    ]


def _rule(spec: PlatformSpec, alert: AlertRule) -> dict[str, Any] | None:
    override = spec.alert_override(alert.name)
    if override.disabled:
        return None
    rule: dict[str, Any] = {"alert": alert.name.value, "expr": alert.expr}
    for_ = override.for_ or alert.for_
    if for_:
        rule["for"] = for_
    rule["labels"] = {cv.SEVERITY_LABEL: (override.severity or alert.severity).value}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": spec.runbook_url(alert.name.value),
    }
    return rule


def spoken(duration: str) -> str:
    """`5m` -> `5 minutes`, `1h` -> `1 hour`, `90s` -> `90 seconds`: for alert descriptions."""
    seconds = int(duration_seconds(duration))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def platform_rules(spec: PlatformSpec) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in platform_alerts(spec):
        rule = _rule(spec, alert)
        if rule is not None:
            groups.setdefault(alert.group, []).append(rule)
    document = {
        "groups": [{"name": f"mlops-{group}", "rules": rules} for group, rules in groups.items()]
    }
    return dump(
        document, f"Platform alerts of stack {spec.name}. Rendered by infra.render; do not edit."
    )
