"""Alerts on the serving API's logs: Grafana evaluates them on Loki, which Prometheus cannot read.

They are named, labelled and annotated like every other alert, and resolved
with the same overrides; only the engine differs.
"""

from __future__ import annotations

from typing import Final

from infra import conventions as cv
from infra.alerts.model import AlertRule, Kind
from infra.queries import error_log_query

GROUP: Final = "serving-logs"
WINDOW: Final = "5m"
SPIKE_LINES: Final = 10  # error or critical lines per window
# The dashboard the alert sends people to (dashboards.logs_traces builds it).
DASHBOARD_TITLE: Final = "Serving logs and traces"
DASHBOARD_UID: Final = "mlops-logs-traces"


def error_log_spike() -> AlertRule:
    return AlertRule(
        cv.LogAlert.SERVING_ERROR_LOG_SPIKE.value,
        GROUP,
        error_log_query(WINDOW),
        "2m",
        cv.Severity.WARNING,
        "The serving API is writing many error logs.",
        "The serving API wrote {{ $values.B.Value }} error or critical log lines "
        f"in the last {WINDOW} (threshold {SPIKE_LINES}). "
        f'Read them on the "{DASHBOARD_TITLE}" dashboard ({DASHBOARD_UID}); '
        "each line links to its trace.",
        kind=Kind.LOG,
        threshold=SPIKE_LINES,
        window=WINDOW,
    )


def rules() -> list[AlertRule]:
    return [error_log_spike()]
