"""The trace and log path live on 127.0.0.1: serving API -> OpenTelemetry Collector -> Loki
(and the trace backend), each on the files the renderers write for the dev stack's test
profile, with the collector and Loki of the pinned images' versions (tools/telemetry/build.sh).

Tempo cannot be built here, so a recording OTLP receiver takes its place behind the
collector's `otlp/tempo` exporter (tests/otlp_sink.py). Prometheus scrapes the
collector and Loki, as the stacks' scrape config says.
"""

from __future__ import annotations

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
from tests import servers, tools
from tests.live import harness as h
from tests.live.chaos import Chaos, set_fault
from tests.live.sink import WebhookSink
from tests.otlp_sink import Sink, grpc_trace_sink

pytestmark = pytest.mark.live
C = cv.Component
MODEL = h.STEADY


@dataclass
class Telemetry:
    root: Path
    spec: PlatformSpec
    endpoints: ep.Endpoints
    traces: Sink
    procs: dict[str, servers.Server]
    control: Path

    @property
    def predict_url(self) -> str:
        return f"{self.endpoints.serving[MODEL].url()}/predict"

    @property
    def loki_url(self) -> str:
        return self.endpoints[C.LOKI].url()

    def logql(self, query: str, since: float = 600) -> list[dict[str, Any]]:
        """A LogQL range query over the last `since` seconds, as Grafana's Explore sends it."""
        now = time.time()
        answer = httpx.get(
            f"{self.loki_url}/loki/api/v1/query_range",
            params={
                "query": query,
                "start": int((now - since) * 1e9),
                "end": int(now * 1e9),
                "limit": 1000,
                "direction": "backward",
            },
            timeout=10,
        )
        assert answer.status_code == 200, f"{query}: {answer.status_code} {answer.text}"
        return list(answer.json()["data"]["result"])

    def predict(self, trace_id: str, sampled: bool = True) -> httpx.Response:
        """One prediction inside the caller's trace (W3C traceparent)."""
        parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-{'01' if sampled else '00'}"
        return httpx.post(self.predict_url, json={"instances": [list(h.IRIS[0])]},
                          headers={"traceparent": parent}, timeout=10)  # fmt: skip


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

        traces = stack.enter_context(grpc_trace_sink(ports[C.TEMPO]["otlp-grpc"]))
        loki = started(
            servers.start(
                "loki",
                [tools.loki(), f"-config.file={root / 'config' / cv.LOKI_CONFIG}"],
                endpoints[C.LOKI].url(),
                root / "loki.log",
                cwd=root,
            ),
            endpoints[C.LOKI].url("http", "/ready"),
        )
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
        assert loki.alive()
        yield Telemetry(root, spec, endpoints, traces, procs, control)


def _trace_id() -> str:
    return uuid.uuid4().hex


def test_the_rendered_collector_and_loki_configs_are_what_runs(telemetry: Telemetry) -> None:
    config = yaml.safe_load((telemetry.root / "config" / cv.OTEL_COLLECTOR_CONFIG).read_text())
    assert config["exporters"]["otlp/tempo"]["endpoint"] == telemetry.traces.url
    assert telemetry.procs["otel-collector"].alive()
    assert telemetry.procs["loki"].alive()


def test_a_sampled_request_trace_reaches_the_trace_backend_through_the_collector(
    telemetry: Telemetry,
) -> None:
    unsampled, sampled = _trace_id(), _trace_id()
    assert telemetry.predict(unsampled, sampled=False).status_code == 200
    assert telemetry.predict(sampled).status_code == 200
    servers.wait_until(lambda: bool(telemetry.traces.of_trace(sampled)), 30, "the trace exported")
    spans = telemetry.traces.of_trace(sampled)
    resource = spans[0].resource
    assert resource["service.name"] == logs_traces.SERVICE_NAME
    # Added by the collector's resource processor: the service was not told its environment.
    assert resource["deployment.environment.name"] == telemetry.spec.environment
    versions = {s.attributes.get("mlops.model_version") for s in spans} - {None}
    assert versions, [s.name for s in spans]
    time.sleep(2)  # the unsampled request was exported in the same batch, had it been sampled
    assert telemetry.traces.of_trace(unsampled) == []


def test_request_logs_reach_loki_and_grafana_s_trace_to_logs_query_finds_them(
    telemetry: Telemetry,
) -> None:
    trace_id = _trace_id()
    assert telemetry.predict(trace_id).status_code == 200
    servers.wait_until(lambda: bool(telemetry.traces.of_trace(trace_id)), 30, "the trace exported")
    span = telemetry.traces.of_trace(trace_id)[0]
    # The query Grafana's Tempo datasource builds for "Logs for this span": the span's
    # resource attributes mapped to stream labels (tracesToLogsV2 tags), filtered by trace id.
    selector = ", ".join(
        f'{tag["value"]}="{span.resource[tag["key"]]}"' for tag in grafana.TRACE_TO_LOG_TAGS
    )
    query = f'{{{selector}}} |="{trace_id}"'
    servers.wait_until(lambda: bool(telemetry.logql(query)), 30, f"logs of {query}")
    lines = [line for stream in telemetry.logql(query) for _, line in stream["values"]]
    assert any('"message": "predicted"' in line for line in lines), lines
    # ...and back: the Loki datasource's derived field finds the trace id in each line.
    for line in lines:
        match = re.search(grafana.LOG_TRACE_ID_REGEX, line)
        assert match, line
        assert match.group(1) == trace_id, line
    # Loki also keeps the OTLP record's trace context as structured metadata.
    assert telemetry.logql(f'{logs_traces.STREAM} | trace_id="{trace_id}"')


def test_model_errors_count_in_the_loki_alert_rule_s_query(telemetry: Telemetry) -> None:
    query = grafana.error_log_query()

    def errors() -> float:
        answer = httpx.get(f"{telemetry.loki_url}/loki/api/v1/query",
                           params={"query": query, "time": int(time.time() * 1e9)}, timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return sum(float(r["value"][1]) for r in answer.json()["data"]["result"])

    before = errors()
    set_fault(telemetry.control, "error")
    try:
        answers = [telemetry.predict(_trace_id()).status_code for _ in range(3)]
    finally:
        set_fault(telemetry.control, None)
    assert answers == [500, 500, 500]
    servers.wait_until(lambda: errors() >= before + 3, 30, f"3 more errors in {query}")


def test_every_dashboard_log_query_parses_and_returns_data(telemetry: Telemetry) -> None:
    for _ in range(5):
        telemetry.predict(_trace_id())
    queries = list(h.dashboard_queries(telemetry.spec, "loki", {"model": MODEL}))
    assert queries
    empty = []
    for query in queries:
        if not telemetry.logql(query.expr, since=query.seconds):
            empty.append(f"{query.where}: {query.expr}")
    print(f"{len(queries)} log panel queries checked")
    assert empty == [], "log panels without data:\n" + "\n".join(empty)


def test_prometheus_scrapes_the_collector_and_loki_and_nothing_is_refused(
    telemetry: Telemetry,
) -> None:
    prometheus = telemetry.endpoints[C.PROMETHEUS].url()

    def query(expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        return list(answer.json()["data"]["result"])

    jobs = (cv.JOB[C.OTEL_COLLECTOR], cv.JOB[C.LOKI])
    for job in jobs:

        def up(job: str = job) -> bool:
            return bool(query(f'up{{job="{job}"}} == 1'))

        servers.wait_until(up, 60, f"{job} up")
    accepted = query("sum(otelcol_receiver_accepted_spans_total)")
    assert accepted
    assert float(accepted[0]["value"][1]) > 0
    assert float(query("sum(otelcol_receiver_accepted_log_records_total)")[0]["value"][1]) > 0
    for failed in ("otelcol_receiver_refused_spans_total",
                   "otelcol_exporter_send_failed_log_records_total"):  # fmt: skip
        result = query(f"sum({failed})")
        assert not result or float(result[0]["value"][1]) == 0, failed
