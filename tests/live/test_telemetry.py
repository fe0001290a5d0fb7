"""The trace and log path live on 127.0.0.1: serving API -> OpenTelemetry Collector -> trace
store and log store, on the files the renderers write for the dev stack's test profile, with
the collector of the pinned image's version (tools/telemetry/build.sh).

Tempo and Loki are AGPL-3.0: nothing here builds or runs them. In their places stand
- **Jaeger v2** (Apache-2.0, tests/jaeger.py), a real trace store receiving OTLP/gRPC where
  the collector's `otlp/tempo` exporter sends; traces are read back by id from its query API;
- **an OTLP/HTTP receiver on Loki's OTLP route** (`/otlp/v1/logs` on Loki's port, where the
  collector's `otlphttp/loki` exporter posts; tests/otlp_sink.py), whose records are turned
  into what Loki would index (tests/loki_standin.py) and queried with the platform's LogQL.
Prometheus scrapes the collector, and the trace store where Tempo's metrics would be.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards import logs_traces
from infra import conventions as cv
from infra import endpoints as ep
from infra.components import grafana
from infra.render import render_all
from infra.render.__main__ import write
from infra.spec import PlatformSpec
from tests import jaeger, servers, tools
from tests import loki_standin as loki
from tests.live import harness as h
from tests.live.chaos import Chaos, set_fault
from tests.live.sink import WebhookSink
from tests.otlp_sink import LogRecord, Sink, Span, otlp_sink

pytestmark = pytest.mark.live
C = cv.Component
MODEL = h.STEADY
# What the service makes for one sampled, successful prediction (service/app.py).
PREDICTION_SPANS = {"predict": None, "validate": "predict", "inference": "predict"}


@dataclass
class Telemetry:
    root: Path
    spec: PlatformSpec
    endpoints: ep.Endpoints
    logs: Sink  # on Loki's OTLP route
    jaeger_url: str  # Jaeger's query API
    procs: dict[str, servers.Server]
    control: Path

    @property
    def predict_url(self) -> str:
        return f"{self.endpoints.serving[MODEL].url()}/predict"

    def predict(
        self, trace_id: str, sampled: bool = True, parent: str | None = None
    ) -> httpx.Response:
        """One prediction inside the caller's trace (W3C traceparent), under span `parent`."""
        traceparent = f"00-{trace_id}-{parent or uuid.uuid4().hex[:16]}-{'01' if sampled else '00'}"
        return httpx.post(self.predict_url, json={"instances": [list(h.IRIS[0])]},
                          headers={"traceparent": traceparent}, timeout=10)  # fmt: skip

    def trace(self, trace_id: str) -> list[Span]:
        return jaeger.trace(self.jaeger_url, trace_id)

    def entries(self) -> list[loki.Entry]:
        """What Loki would hold: every record the collector delivered, as Loki indexes it."""
        return [loki.index(r) for r in self.logs.all_logs()]

    def collector_metric(self, name: str, **labels: str) -> float:
        return h.metric_value(self.endpoints[C.OTEL_COLLECTOR].url("metrics", "/metrics"),
                              name, labels or None)  # fmt: skip


def _register(mlflow_url: str, control: Path) -> None:
    """The real training job, then its model behind a fault switch as the champion."""
    import mlflow  # noqa: PLC0415
    from mlflow import MlflowClient  # noqa: PLC0415

    from service import train  # noqa: PLC0415
    from service.reference import ARTIFACT  # noqa: PLC0415

    assert train.main(["--tracking-uri", mlflow_url, "--model", MODEL]) == 0
    client = MlflowClient(mlflow_url)
    mlflow.set_tracking_uri(mlflow_url)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    pipeline = mlflow.sklearn.load_model(f"models:/{MODEL}/{champion.version}")
    reference = mlflow.artifacts.load_dict(f"runs:/{champion.run_id}/{ARTIFACT}")
    mlflow.set_experiment("live-telemetry")
    with mlflow.start_run():
        mlflow.log_dict(reference, ARTIFACT)
        info = mlflow.sklearn.log_model(
            Chaos(pipeline, str(control)),
            name="model",
            registered_model_name=MODEL,
            skops_trusted_types=[f"{Chaos.__module__}.{Chaos.__qualname__}"],
        )
    client.set_registered_model_alias(MODEL, "champion", str(info.registered_model_version))


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Telemetry]:
    root = tmp_path_factory.mktemp("telemetry")
    files_root = root / "files"
    spec, _ = h.live_spec(WebhookSink(servers.free_port()), files_root, (MODEL,))
    free = servers.free_port
    ports = {
        C.MLFLOW: {"http": free()},
        C.PROMETHEUS: {"http": free()},
        C.PUSHGATEWAY: {"http": free()},
        C.ALERTMANAGER: {"http": free()},
        C.OTEL_COLLECTOR: {
            "otlp-grpc": free(),
            "otlp-http": free(),
            "metrics": free(),
            "health": free(),
        },
        C.LOKI: {"http": free(), "grpc": free()},
        C.TEMPO: {"http": free(), "otlp-grpc": free(), "grpc": free()},
    }
    endpoints = ep.local(ports, {MODEL: free()}, files_root=str(files_root))
    files = render_all(spec, endpoints)
    write(files, root / "config")
    control = root / "chaos-control"
    with ExitStack() as stack:
        procs: dict[str, servers.Server] = {}

        def started(server: servers.Server, ready_url: str) -> servers.Server:
            procs[server.name] = server
            stack.callback(server.stop)
            servers.wait_until(servers.http_ok(ready_url), 120, f"{server.name} ready", server)
            return server

        logs = stack.enter_context(otlp_sink(ports[C.LOKI]["http"], prefix="/otlp"))
        trace_store = jaeger.Ports(
            otlp_grpc=ports[C.TEMPO]["otlp-grpc"],
            metrics=ports[C.TEMPO]["http"],
            query_http=free(),
            query_grpc=free(),
            health=free(),
        )
        jaeger_server = started(jaeger.start(root / "jaeger", trace_store),
                                jaeger.ready_url(trace_store))  # fmt: skip
        collector = endpoints[C.OTEL_COLLECTOR]
        started(
            servers.start(
                "otel-collector",
                [tools.otelcol(), f"--config={root / 'config' / cv.OTEL_COLLECTOR_CONFIG}"],
                collector.url("metrics"),
                root / "otel-collector.log",
                cwd=root,
            ),
            collector.url("health", "/"),
        )
        mlflow_server = started(
            servers.mlflow_server(root / "mlflow", ports[C.MLFLOW]["http"]),
            endpoints[C.MLFLOW].url("http", "/health"),
        )
        _register(mlflow_server.url, control)
        serving = servers.serving(
            root / "serving",
            {
                "mlflow_tracking_uri": mlflow_server.url,
                "model_name": MODEL,
                "tracing": "true",
                "log_export": "true",
                "otlp_protocol": "grpc",
                "otlp_endpoint": collector.address("otlp-grpc"),
                "trace_sample_ratio": str(spec.serving.trace_sample_ratio),
                "log_level": "INFO",
            },
            endpoints.serving[MODEL].ports["http"],
        )
        procs["serving"] = serving
        stack.callback(serving.stop)
        servers.wait_until(servers.http_ok(f"{serving.url}/readyz"), 120, "serving ready", serving)
        prometheus = endpoints[C.PROMETHEUS]
        config = root / "config" / cv.PROMETHEUS_CONFIG
        started(
            servers.start(
                "prometheus",
                [
                    tools.prometheus(),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={root / 'prometheus-data'}",
                    f"--web.listen-address={prometheus.address()}",
                ],
                prometheus.url(),
                root / "prometheus.log",
                cwd=root / "config",
            ),
            prometheus.url("http", "/-/ready"),
        )
        yield Telemetry(root, spec, endpoints, logs, jaeger_server.url, procs, control)


def _trace_id() -> str:
    return uuid.uuid4().hex


def _stored(telemetry: Telemetry, trace_id: str, spans: int) -> list[Span]:
    """The trace once Jaeger holds at least `spans` of its spans."""
    servers.wait_until(lambda: len(telemetry.trace(trace_id)) >= spans, 30,
                       f"trace {trace_id} in Jaeger", telemetry.procs["jaeger"])  # fmt: skip
    return telemetry.trace(trace_id)


def _predicted(telemetry: Telemetry, trace_id: str) -> list[LogRecord]:
    """The request's "predicted" log records delivered so far (one once it has arrived)."""
    records = telemetry.logs.logs_of_trace(trace_id)
    return [r for r in records if json.loads(r.body).get("message") == "predicted"]


def test_the_collector_sends_where_the_stand_ins_listen(telemetry: Telemetry) -> None:
    config = yaml.safe_load((telemetry.root / "config" / cv.OTEL_COLLECTOR_CONFIG).read_text())
    tempo, loki_ = telemetry.endpoints[C.TEMPO], telemetry.endpoints[C.LOKI]
    assert config["exporters"]["otlp/tempo"]["endpoint"] == tempo.address("otlp-grpc")
    assert config["exporters"]["otlphttp/loki"]["endpoint"] == loki_.url("http", "/otlp")
    assert telemetry.logs.url == loki_.url("http", "/otlp/v1/traces")
    for proc in telemetry.procs.values():
        assert proc.alive(), proc.name


def test_a_sampled_request_s_trace_is_stored_in_jaeger_with_every_span_the_service_made(
    telemetry: Telemetry,
) -> None:
    accepted = "otelcol_receiver_accepted_spans_total"
    sent = "otelcol_exporter_sent_spans_total"
    before = telemetry.collector_metric(accepted), telemetry.collector_metric(sent)
    unsampled, sampled = _trace_id(), _trace_id()
    parent = uuid.uuid4().hex[:16]
    assert telemetry.predict(unsampled, sampled=False).status_code == 200
    assert telemetry.predict(sampled, parent=parent).status_code == 200
    spans = _stored(telemetry, sampled, len(PREDICTION_SPANS))
    # Nothing else makes spans in this module while this test runs: the collector's counters
    # say how many the service sent, and the exporter forwarded every one of them.
    servers.wait_until(
        lambda: telemetry.collector_metric(sent) - before[1] >= len(PREDICTION_SPANS), 30,
        "the collector's exporter counted the spans",
    )  # fmt: skip
    made = telemetry.collector_metric(accepted) - before[0]
    assert len(spans) == made == telemetry.collector_metric(sent) - before[1]
    by_name = {s.name: s for s in spans}
    assert len(by_name) == len(spans)
    assert set(by_name) == set(PREDICTION_SPANS)
    for name, parent_name in PREDICTION_SPANS.items():
        expected = by_name[parent_name].span_id if parent_name else parent  # the caller's span
        assert by_name[name].parent_span_id == expected, name
    for span in spans:
        assert span.trace_id == sampled
        assert span.resource["service.name"] == logs_traces.SERVICE_NAME
        # Added by the collector's resource processor: the service was not told its environment.
        assert span.resource["deployment.environment.name"] == telemetry.spec.environment
    assert by_name["predict"].attributes["mlops.model_version"]
    assert by_name["predict"].attributes["mlops.outcome"] == "ok"
    assert by_name["inference"].attributes["mlops.rows"] == 1
    # The unsampled request was sent first, so it would be stored by now had it been exported.
    assert telemetry.trace(unsampled) == []


def test_request_logs_reach_loki_s_otlp_route_as_loki_indexes_them(telemetry: Telemetry) -> None:
    trace_id = _trace_id()
    assert telemetry.predict(trace_id).status_code == 200
    spans = _stored(telemetry, trace_id, len(PREDICTION_SPANS))
    servers.wait_until(lambda: bool(_predicted(telemetry, trace_id)), 30, "the request's log line")
    assert telemetry.logs.refused == []  # every post went to /otlp/v1/logs
    records = telemetry.logs.logs_of_trace(trace_id)
    span_ids = {s.span_id for s in spans}
    for record in records:
        entry = loki.index(record)
        # The stream: service_name from the resource (what every log query selects on).
        assert entry.labels["service_name"] == logs_traces.SERVICE_NAME
        assert record.resource["service.name"] == logs_traces.SERVICE_NAME
        # Structured metadata: the trace context, the severity, the collector's environment.
        assert entry.metadata["trace_id"] == trace_id
        assert entry.metadata["span_id"] in span_ids
        assert (entry.metadata["severity_text"], entry.metadata["severity_number"]) == ("INFO", "9")
        assert record.resource["deployment.environment.name"] == telemetry.spec.environment
        assert entry.metadata["deployment_environment_name"] == telemetry.spec.environment
        # The line: the JSON the service writes on stdout, with the same trace context.
        body = json.loads(entry.line)
        assert (body["trace_id"], body["span_id"]) == (trace_id, entry.metadata["span_id"])
        assert body["level"] == "info"
    (predicted,) = _predicted(telemetry, trace_id)
    assert predicted.span_id == next(s.span_id for s in spans if s.name == "predict")


def test_grafana_s_trace_to_logs_query_and_derived_field_link_both_ways(
    telemetry: Telemetry,
) -> None:
    trace_id = _trace_id()
    assert telemetry.predict(trace_id).status_code == 200
    span = _stored(telemetry, trace_id, len(PREDICTION_SPANS))[0]
    servers.wait_until(lambda: bool(_predicted(telemetry, trace_id)), 30, "the request's log line")
    # The query Grafana's Tempo datasource builds for "Logs for this span": the span's
    # resource attributes mapped to stream labels (tracesToLogsV2 tags), filtered by trace id.
    selector = ", ".join(
        f'{tag["value"]}="{span.resource[tag["key"]]}"' for tag in grafana.TRACE_TO_LOG_TAGS
    )
    now = time.time_ns()
    found = loki.logs(f'{{{selector}}} |= "{trace_id}"', telemetry.entries(), now)
    assert len(found) == len(telemetry.logs.logs_of_trace(trace_id))
    assert any('"message": "predicted"' in e.line for e in found)
    # ...and back: the Loki datasource's derived field finds the trace id in each line.
    for entry in found:
        match = re.search(grafana.LOG_TRACE_ID_REGEX, entry.line)
        assert match, entry.line
        assert match.group(1) == trace_id, entry.line
    # Loki also keeps the record's trace context as structured metadata, queryable as a label.
    assert loki.logs(f'{logs_traces.STREAM} | trace_id="{trace_id}"', telemetry.entries(), now)


def test_model_errors_count_in_the_loki_alert_rule_s_query(telemetry: Telemetry) -> None:
    query = grafana.error_log_query()

    def errors() -> float:
        return sum(s.value for s in loki.metric(query, telemetry.entries(), time.time_ns()))

    before = errors()
    set_fault(telemetry.control, "error")
    try:
        answers = [telemetry.predict(_trace_id()).status_code for _ in range(3)]
    finally:
        set_fault(telemetry.control, None)
    assert answers == [500, 500, 500]
    servers.wait_until(lambda: errors() >= before + 3, 30, f"3 more errors in {query}")
    failed = [e for e in telemetry.entries() if e.metadata.get("severity_text") == "ERROR"]
    assert len(failed) >= 3
    assert all(json.loads(e.line)["outcome"] == "model_error" for e in failed)


def test_every_dashboard_log_query_has_data(telemetry: Telemetry) -> None:
    for _ in range(5):
        telemetry.predict(_trace_id())
    queries = list(h.dashboard_queries(telemetry.spec, "loki", {"model": MODEL}))
    assert queries
    entries, now = telemetry.entries(), time.time_ns()
    empty = [f"{q.where}: {q.expr}" for q in queries
             if not loki.has_data(q.expr, entries, now, q.seconds)]  # fmt: skip
    print(f"{len(queries)} log panel queries checked over {len(entries)} log entries")
    assert empty == [], "log panels without data:\n" + "\n".join(empty)


def test_prometheus_scrapes_the_collector_and_the_trace_store_and_nothing_is_refused(
    telemetry: Telemetry,
) -> None:
    prometheus = telemetry.endpoints[C.PROMETHEUS].url()

    def query(expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        return list(answer.json()["data"]["result"])

    # The trace store's job reaches Jaeger's metrics on Tempo's port: the job's address holds.
    for job in (cv.JOB[C.OTEL_COLLECTOR], cv.JOB[C.TEMPO]):

        def up(job: str = job) -> bool:
            return bool(query(f'up{{job="{job}"}} == 1'))

        servers.wait_until(up, 60, f"{job} up")
    accepted = query("sum(otelcol_receiver_accepted_spans_total)")
    assert accepted
    assert float(accepted[0]["value"][1]) > 0
    assert float(query("sum(otelcol_receiver_accepted_log_records_total)")[0]["value"][1]) > 0
    for failed in ("otelcol_receiver_refused_spans_total",
                   "otelcol_exporter_send_failed_spans_total",
                   "otelcol_exporter_send_failed_log_records_total"):  # fmt: skip
        result = query(f"sum({failed})")
        assert not result or float(result[0]["value"][1]) == 0, failed
