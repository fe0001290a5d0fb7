"""The Loki stand-in of the live tests: what it indexes from an OTLP record, how it answers LogQL,
and that every log query the platform ships is inside the LogQL it evaluates."""

from __future__ import annotations

import gzip
import json
import time
import uuid

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from dashboards import logs_traces
from infra.components import grafana
from tests import loki_standin as loki
from tests import tools
from tests.conftest import STACKS, stack_spec
from tests.live import harness as h
from tests.otlp_sink import LogRecord, otlp_sink

NOW = time.time_ns()
TRACE, SPAN = uuid.uuid4().hex, uuid.uuid4().hex[:16]


def _record(level: str = "info", message: str = "predicted", age_s: float = 1.0) -> LogRecord:
    body = {"level": level, "logger": "service.app", "message": message, "trace_id": TRACE}
    return LogRecord(
        body=json.dumps(body),
        trace_id=TRACE,
        span_id=SPAN,
        severity=level.upper(),
        attributes={"code.function": "predict"},
        service=logs_traces.SERVICE_NAME,
        resource={
            "service.name": logs_traces.SERVICE_NAME,
            "deployment.environment.name": "staging",
            "mlops.model": "iris-classifier",
            "k8s.pod.name": "serving-0",
        },
        scope="service.app",
        severity_number=17 if level == "error" else 9,
        time_ns=NOW - int(age_s * 1e9),
        flags=1,
    )


def test_resource_attributes_on_loki_s_list_become_the_stream_the_rest_metadata() -> None:
    entry = loki.index(_record())
    assert entry.labels == {"service_name": logs_traces.SERVICE_NAME, "k8s_pod_name": "serving-0"}
    assert entry.metadata == {
        "deployment_environment_name": "staging",
        "mlops_model": "iris-classifier",
        "code_function": "predict",
        "scope_name": "service.app",
        "trace_id": TRACE,
        "span_id": SPAN,
        "flags": "1",
        "severity_text": "INFO",
        "severity_number": "9",
    }
    assert json.loads(entry.line)["message"] == "predicted"


def test_a_record_without_trace_context_has_no_trace_metadata() -> None:
    record = _record()
    bare = LogRecord(record.body, "0" * 32, "0" * 16, "", {}, record.service, record.resource)
    assert not {"trace_id", "span_id", "severity_text"} & set(loki.index(bare).metadata)


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        (logs_traces.STREAM, 2),
        ('{service_name="other"}', 0),
        ('{service_name=~"mlops-.*"}', 2),
        ('{service_name=~"mlops"}', 0),  # label regexes are anchored
        ('{service_name!="mlops-serving"}', 0),
        (f'{logs_traces.STREAM} |= "{TRACE}"', 2),
        (f'{logs_traces.STREAM} != "{TRACE}"', 0),
        (f'{logs_traces.STREAM} |~ "model f.iled"', 1),
        (f'{logs_traces.STREAM} | trace_id="{TRACE}"', 2),
        (f'{logs_traces.STREAM} | json | level="error"', 1),
        (f'{logs_traces.STREAM} | level="error"', 0),  # a body field needs the json parser
        (f'{logs_traces.STREAM} | json | trace_id_extracted="{TRACE}"', 2),
        (f'{logs_traces.STREAM} | json | __error__=""', 2),
    ],
)
def test_log_queries_keep_what_loki_would(query: str, kept: int) -> None:
    entries = [loki.index(_record()), loki.index(_record("error", "model failed"))]
    assert len(loki.logs(query, entries, NOW)) == kept


def test_a_line_that_is_not_json_fails_the_json_parser() -> None:
    record = _record()
    plain = LogRecord("plain text", TRACE, SPAN, "INFO", {}, record.service, record.resource)
    entries = [loki.index(plain)]
    assert loki.logs(f'{logs_traces.STREAM} | json | __error__=""', entries, NOW) == []
    assert len(loki.logs(f'{logs_traces.STREAM} | json | __error__!=""', entries, NOW)) == 1


def test_metric_queries_count_over_their_range_only() -> None:
    entries = [loki.index(_record(age_s=a)) for a in (1, 2, 100)]
    entries.append(loki.index(_record("error", "model failed", age_s=3)))
    by_level = loki.metric(
        f'sum by (level) (count_over_time({logs_traces.STREAM} | json | __error__="" [1m]))',
        entries,
        NOW,
    )
    assert {s.labels["level"]: s.value for s in by_level} == {"info": 2, "error": 1}
    (errors,) = loki.metric(grafana.error_log_query("5m"), entries, NOW)
    assert errors.value == 1
    (rate,) = loki.metric(f"sum(rate({logs_traces.STREAM}[10s]))", entries, NOW)
    assert rate.value == pytest.approx(3 / 10)
    assert loki.metric(f"sum(count_over_time({logs_traces.STREAM}[1s]))", entries, NOW) == []
    # Grafana draws the range step by step: the old entry has data at its own time.
    query = f"sum(count_over_time({logs_traces.STREAM}[1s]))"
    assert loki.has_data(query, entries, NOW, since_s=3600)
    assert not loki.has_data(query, entries, NOW, since_s=0.5)


@pytest.mark.parametrize(
    "query",
    [
        f"{logs_traces.STREAM} | logfmt",
        f"{logs_traces.STREAM} | json level",
        f'{logs_traces.STREAM} | line_format "{{{{.message}}}}"',
        f"topk(3, count_over_time({logs_traces.STREAM}[1m]))",
        f"quantile_over_time(0.9, {logs_traces.STREAM} | unwrap latency [1m])",
        'service_name="x"',
    ],
)
def test_what_it_does_not_evaluate_is_refused_not_guessed(query: str) -> None:
    with pytest.raises(loki.UnsupportedError):
        loki.has_data(query, [loki.index(_record())], NOW, 60)


def _shipped_log_queries(stack: str) -> list[str]:
    """Every LogQL query a stack ships: dashboard panels, the Grafana log alert rule, and the
    query Grafana's trace-to-logs link builds for a span of the serving API."""
    spec = stack_spec(stack)
    queries = [q.expr for q in h.dashboard_queries(spec, "loki", {"model": "iris-classifier"})]
    assert queries
    resource = _record().resource
    tags = ", ".join(f'{t["value"]}="{resource[t["key"]]}"' for t in grafana.TRACE_TO_LOG_TAGS)
    return [*queries, grafana.error_log_query(), f'{{{tags}}} |= "{TRACE}"']


@pytest.mark.parametrize("name", STACKS)
def test_every_log_query_the_platform_ships_is_in_the_evaluated_subset(name: str) -> None:
    """So the live tests judge each of them."""
    entries = [loki.index(_record()), loki.index(_record("error", "model failed"))]
    for query in _shipped_log_queries(name):
        assert loki.has_data(query, entries, NOW, 3600), query


@pytest.mark.parametrize("name", STACKS)
def test_every_log_query_the_platform_ships_is_valid_logql(name: str) -> None:
    """Parsed by Grafana's own LogQL grammar (the one its query editor uses)."""
    queries = _shipped_log_queries(name)
    assert tools.logql_errors(queries) == {q: [] for q in queries}


def test_the_logql_grammar_finds_a_broken_query() -> None:
    broken = [
        '{service_name="mlops-serving" | json',
        f"sum(count_over_time({logs_traces.STREAM}))",  # a range vector needs its [range]
        f"{logs_traces.STREAM} | jsn",
    ]
    assert all(tools.logql_errors(broken).values())


def test_the_receiver_on_loki_s_route_takes_only_that_route() -> None:
    """A collector posting anywhere but /otlp/v1/logs would be refused and counted, not kept."""
    request = ExportLogsServiceRequest()
    group = request.resource_logs.add()
    attribute = group.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", logs_traces.SERVICE_NAME
    group.scope_logs.add().log_records.add().body.string_value = "hello"
    payload = gzip.compress(request.SerializeToString())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/x-protobuf"}
    with otlp_sink(prefix="/otlp") as sink:
        root = sink.url.removesuffix("/otlp/v1/traces")
        assert (
            httpx.post(f"{root}/loki/api/v1/push", content=payload, headers=headers).status_code
            == 404
        )
        assert httpx.post(f"{root}/v1/logs", content=payload, headers=headers).status_code == 404
        assert sink.all_logs() == []
        assert (
            httpx.post(f"{root}/otlp/v1/logs", content=payload, headers=headers).status_code == 200
        )
        (record,) = sink.all_logs()
    assert sink.refused == ["/loki/api/v1/push", "/v1/logs"]
    assert loki.index(record).labels == {"service_name": logs_traces.SERVICE_NAME}
    assert record.body == "hello"
