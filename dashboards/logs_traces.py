"""Logs and traces of the serving API, side by side, linked by trace id.

Metrics say something is wrong; logs and traces say what. The service writes one
JSON object per log line carrying the `trace_id` of the request's span, so a
log line opens its trace in Tempo (the Loki datasource's derived field does it in
Explore; the data link below does it from this panel), and Tempo's search lists
the failing and slow requests of the same service.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from grafana_foundation_sdk.builders import dashboard, logs, table, tempo, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.tempo import SearchTableType, TempoQueryType

from dashboards import panels as p
from infra import conventions as cv
from infra import queries as q
from infra.alerts import logs as log_alerts
from infra.spec import PlatformSpec

# The dashboard the log alert's description sends people to.
UID = log_alerts.DASHBOARD_UID
TITLE = log_alerts.DASHBOARD_TITLE
FOLDER = cv.FOLDER_UID["platform"]

# The serving API's log stream, as the log alert reads it.
SERVICE_NAME = q.SERVICE_NAME
STREAM = q.STREAM
ERROR_LEVELS = q.ERROR_LEVELS
TRACE_ID_FIELD = "${__data.fields.trace_id}"


def tempo_explore_url(trace_id: str) -> str:
    """Grafana's Explore URL opening one trace in the Tempo datasource."""
    placeholder = "TRACE-ID-PLACEHOLDER"
    tempo_ref = p.datasource("tempo")
    pane = {
        "datasource": tempo_ref.uid,
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": tempo_ref.type_val, "uid": tempo_ref.uid},
                "queryType": TempoQueryType.TRACEQL.value,
                "query": placeholder,
            }
        ],
        "range": {"from": "now-1h", "to": "now"},
    }
    panes = quote(json.dumps({"trace": pane}, separators=(",", ":"), sort_keys=True), safe="")
    return f"/explore?schemaVersion=1&panes={panes.replace(placeholder, trace_id)}"


def traceql(query: str, ref_id: str = "A") -> tempo.TempoQuery:
    return (
        tempo.TempoQuery()
        .ref_id(ref_id)
        .datasource(p.datasource("tempo"))
        .query_type(TempoQueryType.TRACEQL.value)
        .query(query)
        .limit(20)
        .table_type(SearchTableType.TRACES)
    )


def service_logs() -> logs.Panel:
    return (
        logs.Panel()
        .title("Serving API logs")
        .description(
            "JSON log lines of the serving API, newest first. Lines written inside a request "
            "carry its trace_id: open the line and follow the link to its trace in Tempo."
        )
        .datasource(p.datasource("loki"))
        .span(p.FULL)
        .height(p.HEIGHT * 2)
        .show_time(True)
        .wrap_log_message(True)
        .prettify_log_message(False)
        .enable_log_details(True)
        .sort_order(common.LogsSortOrder.DESCENDING)
        .dedup_strategy(common.LogsDedupStrategy.NONE)
        .data_links(
            [
                dashboard.DashboardLink("Open trace in Tempo")
                .url(tempo_explore_url(TRACE_ID_FIELD))
                .target_blank(True)
            ]
        )
        .with_target(p.logql(f"{STREAM} | json"))
    )


def log_volume() -> timeseries.Panel:
    return p.stacked(
        p.timeseries_panel(
            "Log lines by level",
            "Log lines the serving API wrote per interval, by level.",
            p.COUNT,
            kind="loki",
        )
    ).with_target(
        p.logql(
            f'sum by (level) (count_over_time({STREAM} | json | __error__="" [$__auto]))',
            "{{level}}",
        )
    )


def error_logs() -> timeseries.Panel:
    return (
        p.timeseries_panel(
            "Error logs rate",
            "Error and critical log lines per second, by logger: the first place a failing "
            "dependency (registry, model load) shows.",
            p.EVENTS_PER_SECOND,
            kind="loki",
        )
        .min(0)
        .with_target(p.logql(f"sum by (logger) (rate({q.ERROR_LINES} [$__auto]))", "{{logger}}"))
    )


def trace_search(title: str, description: str, query: str) -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(p.datasource("tempo"))
        .span(p.THIRD)
        .height(p.HEIGHT + 2)
        .with_target(traceql(query))
    )


def logs_traces_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    service = f'resource.service.name = "{SERVICE_NAME}"'
    slow = f"{q.number(p.fires_at(spec, cv.Alert.SERVING_HIGH_LATENCY_P95))}s"
    return (
        p.base(
            UID,
            TITLE,
            "Logs of the serving API from Loki and its traces from Tempo, linked by trace id.",
            ["logs", "traces", "serving"],
            time_from="now-1h",
            refresh="30s",
        )
        .with_row(p.row("Logs"))
        .with_panel(log_volume())
        .with_panel(error_logs())
        .with_panel(service_logs())
        .with_row(p.row("Traces"))
        .with_panel(
            trace_search(
                "Recent traces", "The latest traces of the serving API.", f"{{ {service} }}"
            )
        )
        .with_panel(
            trace_search(
                "Failed requests",
                "Traces with a span in error status.",
                f"{{ {service} && status = error }}",
            )
        )
        .with_panel(
            trace_search(
                "Slow requests",
                f"Traces longer than {slow}, the latency at which ServingHighLatencyP95 fires.",
                f"{{ {service} && duration > {slow} }}",
            )
        )
    )
