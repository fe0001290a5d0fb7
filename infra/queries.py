"""PromQL and LogQL that alerts and dashboards share, so a panel reads the series its alert reads.

A dashboard built from its own copy of a selector drifts from the alert it is
meant to explain: it shows what the alert did not see. Alerts pass their
window, dashboards `$__rate_interval`; the rest is spelled once, here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from infra import conventions as cv
from service import catalog as m

SERVING: Final = f'job="{cv.JOB[cv.Component.SERVING]}"'
PREDICT: Final = f'{SERVING},endpoint="{m.PREDICT_ROUTE}"'
TRAINING: Final = f'job="{m.TRAINING_JOB}"'
DRIFT: Final = f'job="{m.DRIFT_JOB}"'
PROMETHEUS: Final = f'job="{cv.JOB[cv.Component.PROMETHEUS]}"'
ALERTMANAGER: Final = f'job="{cv.JOB[cv.Component.ALERTMANAGER]}"'

# Users' prediction requests: probes and /metrics are not the service's work.
REQUESTS: Final = f"{m.REQUEST_TOTAL.name}{{{PREDICT}}}"
ERRORS: Final = f'{m.REQUEST_TOTAL.name}{{{PREDICT},http_response_code=~"5.."}}'
BUCKETS: Final = f"{m.REQUEST_DURATION.name}_bucket{{{PREDICT}}}"

# The service's OpenTelemetry service.name (service.telemetry); Loki's OTLP
# ingestion turns it into the `service_name` stream label.
SERVICE_NAME: Final = "mlops-serving"
STREAM: Final = f'{{service_name="{SERVICE_NAME}"}}'
ERROR_LEVELS: Final = "error|critical"
ERROR_LINES: Final = f'{STREAM} | json | __error__="" | level=~"{ERROR_LEVELS}"'


def number(value: float | Decimal) -> str:
    """A number as PromQL reads it, exactly as written: 0.05, 1, 100, 0.0144 (never 5e-02)."""
    return format(Decimal(repr(value) if isinstance(value, float) else value).normalize(), "f")


def error_ratio(window: str) -> str:
    """Share of prediction requests answered with a 5xx, per model."""
    return (
        f"sum by (model) (rate({ERRORS}[{window}]))\n/\nsum by (model) (rate({REQUESTS}[{window}]))"
    )


def latency_quantile(quantile: float, window: str) -> str:
    return f"histogram_quantile({quantile}, sum by (model, le) (rate({BUCKETS}[{window}])))"


def mean_confidence(by: str, selector: str, window: str) -> str:
    confidence = m.PREDICTION_CONFIDENCE.name
    return (
        f"sum by ({by}) (rate({confidence}_sum{{{selector}}}[{window}]))\n/\n"
        f"sum by ({by}) (rate({confidence}_count{{{selector}}}[{window}]))"
    )


def feature_drift(by: str, selector: str) -> str:
    return f"max by ({by}) ({m.FEATURE_DRIFT_PSI.name}{{{selector}}})"


def push_age(selector: str) -> str:
    """Seconds since each batch job last pushed to the Pushgateway."""
    return f"time() - max by (job) (push_time_seconds{{{selector}}})"


def rule_failures(window: str) -> str:
    return f"increase(prometheus_rule_evaluation_failures_total{{{PROMETHEUS}}}[{window}])"


def notification_failure_ratio(by: str, window: str) -> str:
    return (
        f"sum by ({by}) (rate(alertmanager_notifications_failed_total{{{ALERTMANAGER}}}[{window}]))\n"
        f"/\nsum by ({by}) (rate(alertmanager_notifications_total{{{ALERTMANAGER}}}[{window}]))"
    )


def error_log_query(window: str) -> str:
    """Error and critical log lines of the serving API over `window`, as one number."""
    return f"sum(count_over_time({ERROR_LINES} [{window}]))"
