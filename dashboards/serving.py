"""Serving RED: rate, errors and duration of the prediction route, per model.

The first place to look when a serving alert fires. The queries are the ones
`ServingHighErrorRatio` and `ServingHighLatencyP95` evaluate (`infra.queries`:
the `serving` job, the predict route only), and the dashed lines are where the
stack's alerts fire, so the chart shows what the alert saw. Like those alerts,
the panels read the recorded requests and latency buckets per model
(`infra.render.rules.recordings`, over `alerts.servingWindow`): summing every
replica's every status code at each step took 1.7-2.5 s a latency query at 100
models (bench/scale.py). Recorded series carry no exemplars: a slow request's
trace is found from the raw bucket series in Explore, or from the logs and
traces dashboard's slow-requests table. Where the
stack scrapes container figures, a saturation row shows the serving
containers' CPU and memory against what they were given; the Resources
dashboard (linked) has every component's.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, heatmap, timeseries

from dashboards import panels as p
from dashboards import resources
from infra import conventions as cv
from infra import queries as q
from infra.spec import PlatformSpec
from infra.units import quantity
from service import catalog as m

UID = "mlops-serving-red"
FOLDER = cv.FOLDER_UID["serving"]

C = cv.Component
QUANTILES = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))


def recorded_requests(spec: PlatformSpec) -> str:
    return q.requests_recorded(spec.alerts.serving_window)


def request_rate(spec: PlatformSpec) -> timeseries.Panel:
    return p.timeseries_panel(
        "Request rate",
        "Prediction requests answered per second, per model.",
        p.REQUESTS_PER_SECOND,
    ).with_target(p.prom(f"sum by (model) ({recorded_requests(spec)})", "{{model}}"))


def error_ratio(spec: PlatformSpec) -> timeseries.Panel:
    panel = p.timeseries_panel(
        "Error ratio (5xx)",
        "Share of prediction requests answered with a server error. The dashed line is "
        "where ServingHighErrorRatio fires.",
        p.RATIO,
    ).min(0)
    fires_at = p.fires_at(spec, cv.Alert.SERVING_HIGH_ERROR_RATIO)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.error_ratio(spec.alerts.serving_window), "{{model}}")
    )


def responses_by_code(spec: PlatformSpec) -> timeseries.Panel:
    return p.stacked(
        p.timeseries_panel(
            "Responses by status code",
            "Prediction requests per second by HTTP status: 4xx are callers' mistakes "
            "(validation), 5xx are ours.",
            p.REQUESTS_PER_SECOND,
        )
    ).with_target(p.prom(recorded_requests(spec), "{{model}} {{http_response_code}}"))


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
        "Prediction latency quantiles from the request histogram, per model, over the window "
        "ServingHighLatencyP95 evaluates. The dashed line is where it fires.",
        p.SECONDS,
    ).min(0)
    fires_at = p.fires_at(spec, cv.Alert.SERVING_HIGH_LATENCY_P95)
    panel = p.threshold_lines(panel, p.GREEN, (fires_at, p.RED))
    for i, (quantile, name) in enumerate(QUANTILES):
        panel = panel.with_target(
            p.prom(
                q.latency_quantile(quantile, spec.alerts.serving_window),
                f"{{{{model}}}} {name}",
                ref_id=chr(ord("A") + i),
            )
        )
    return panel


def latency_heatmap(spec: PlatformSpec) -> heatmap.Panel:
    return p.heatmap_panel(
        "Latency distribution",
        "Prediction requests per second in each latency bucket, every model together.",
        p.SECONDS,
    ).with_target(
        p.buckets(f"sum by (le) ({q.latency_buckets_recorded(spec.alerts.serving_window)})")
    )


def agreed(values: set[str | None]) -> float | None:
    """The quantity every served model sets alike (one line for every replica), if any."""
    (value,) = values if len(values) == 1 else (None,)
    return None if value is None else p.number(quantity(value))


def worker_cpu(spec: PlatformSpec) -> timeseries.Panel:
    models = [m.resources for m in spec.serving.models]
    request = agreed({r.cpu_request for r in models})
    limit = agreed({r.cpu_limit for r in models})
    panel = p.timeseries_panel(
        "Serving CPU per replica (cores)",
        "CPU cores each serving container uses. The dashed lines are the cores one replica "
        "requests (serving.models[].resources.cpuRequest: above it, it borrows idle CPU) and "
        "its cpuLimit where one is set (there it is throttled).",
        p.COUNT,
    ).min(0)
    steps = [(request, p.YELLOW)] if request is not None else []
    if limit is not None and resources.cpu_limited(spec, models):
        steps.append((limit, p.RED))
    if steps:
        panel = p.threshold_lines(panel, p.GREEN, *steps)
    used = f"container_cpu_usage_seconds_total{{{resources.containers(spec, C.SERVING)}}}"
    return panel.with_target(
        p.prom(
            f"sum by ({q.CONTAINER_BY}) (rate({used}[$__rate_interval]))", resources.replica(spec)
        )
    )


def worker_memory(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Serving memory / limit",
            "Each serving container's working set over its memory limit. The dashed line is "
            f"where {cv.Alert.CONTAINER_MEMORY_NEAR_LIMIT} fires; at 100% the container is "
            "killed and its in-flight requests fail.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = p.number(spec.alerts.container_memory_ratio)
    selector = resources.containers(spec, C.SERVING)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.container_memory_ratio(selector), resources.replica(spec))
    )


def saturation(spec: PlatformSpec) -> list[timeseries.Panel]:
    """The serving containers against what they were given, where containers are scraped."""
    if not spec.containers_scraped:
        return []
    panels = [worker_cpu(spec), worker_memory(spec)]
    if resources.cpu_limited(spec, [m.resources for m in spec.serving.models]):
        panels.append(resources.cpu_throttled(spec, C.SERVING))
    return resources.tile(panels)


def serving_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    board = (
        p.base(
            UID,
            "Serving RED",
            "Rate, errors and duration of the prediction API, per model.",
            ["serving", "red"],
            time_from="now-6h",
            refresh="30s",
        )
        .link(resources.link())
        .annotation(p.deployments())
        .with_row(p.row("Requests and errors"))
        .with_panel(request_rate(spec))
        .with_panel(error_ratio(spec))
        .with_panel(responses_by_code(spec))
        .with_panel(in_flight())
        .with_row(p.row("Duration"))
        .with_panel(latency_quantiles(spec))
        .with_panel(latency_heatmap(spec))
    )
    panels = saturation(spec)
    if panels:
        board = board.with_row(p.row("Saturation"))
        for panel in panels:
            board = board.with_panel(panel)
    return board
