"""Serving RED: rate, errors and duration of the prediction route, per model.

The first place to look when a serving alert fires. The queries are the ones
`ServingHighErrorRatio` and `ServingHighLatencyP95` evaluate (`infra.queries`:
the `serving` job, the predict route only), and the dashed lines are where the
stack's alerts fire, so the chart shows what the alert saw. Latency panels
ask for exemplars, which link a slow request to its trace in Tempo.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, heatmap, timeseries

from dashboards import panels as p
from infra import conventions as cv
from infra import queries as q
from infra.spec import PlatformSpec
from service import catalog as m

UID = "mlops-serving-red"
FOLDER = cv.FOLDER_UID["serving"]

QUANTILES = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))


def request_rate() -> timeseries.Panel:
    return p.timeseries_panel(
        "Request rate",
        "Prediction requests answered per second, per model.",
        p.REQUESTS_PER_SECOND,
    ).with_target(p.prom(f"sum by (model) (rate({q.REQUESTS}[$__rate_interval]))", "{{model}}"))


def error_ratio(spec: PlatformSpec) -> timeseries.Panel:
    panel = p.timeseries_panel(
        "Error ratio (5xx)",
        "Share of prediction requests answered with a server error. The dashed line is "
        "where ServingHighErrorRatio fires.",
        p.RATIO,
    ).min(0)
    fires_at = p.fires_at(spec, cv.Alert.SERVING_HIGH_ERROR_RATIO)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.error_ratio("$__rate_interval"), "{{model}}")
    )


def responses_by_code() -> timeseries.Panel:
    return p.stacked(
        p.timeseries_panel(
            "Responses by status code",
            "Prediction requests per second by HTTP status: 4xx are callers' mistakes "
            "(validation), 5xx are ours.",
            p.REQUESTS_PER_SECOND,
        )
    ).with_target(
        p.prom(
            f"sum by (model, http_response_code) (rate({q.REQUESTS}[$__rate_interval]))",
            "{{model}} {{http_response_code}}",
        )
    )


def in_flight() -> timeseries.Panel:
    return p.timeseries_panel(
        "In-flight requests",
        "Prediction requests being handled right now, per model: saturation of the API server.",
        p.COUNT,
    ).with_target(
        p.prom(
            f"sum by (model) ({m.REQUEST_IN_PROGRESS.name}{{{q.PREDICT}}})",
            "{{model}}",
        )
    )


def latency_quantiles(spec: PlatformSpec) -> timeseries.Panel:
    panel = p.timeseries_panel(
        "Latency p50 / p95 / p99",
        "Prediction latency quantiles from the request histogram, per model. Exemplars "
        "link to traces. The dashed line is where ServingHighLatencyP95 fires.",
        p.SECONDS,
    ).min(0)
    fires_at = p.fires_at(spec, cv.Alert.SERVING_HIGH_LATENCY_P95)
    panel = p.threshold_lines(panel, p.GREEN, (fires_at, p.RED))
    for i, (quantile, name) in enumerate(QUANTILES):
        panel = panel.with_target(
            p.prom(
                q.latency_quantile(quantile, "$__rate_interval"),
                f"{{{{model}}}} {name}",
                ref_id=chr(ord("A") + i),
                exemplar=True,
            )
        )
    return panel


def latency_heatmap() -> heatmap.Panel:
    return p.heatmap_panel(
        "Latency distribution",
        "Prediction requests per latency bucket; exemplars link to traces.",
        p.SECONDS,
    ).with_target(
        p.buckets(f"sum by (le) (increase({q.BUCKETS}[$__rate_interval]))", exemplar=True)
    )


def serving_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    return (
        p.base(
            UID,
            "Serving RED",
            "Rate, errors and duration of the prediction API, per model.",
            ["serving", "red"],
            time_from="now-6h",
            refresh="30s",
        )
        .annotation(p.deployments())
        .with_row(p.row("Requests and errors"))
        .with_panel(request_rate())
        .with_panel(error_ratio(spec))
        .with_panel(responses_by_code())
        .with_panel(in_flight())
        .with_row(p.row("Duration"))
        .with_panel(latency_quantiles(spec))
        .with_panel(latency_heatmap())
    )
