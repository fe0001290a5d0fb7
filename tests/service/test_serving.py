"""The serving API for real: MLflow server, training, `bentoml serve`, all on 127.0.0.1, over HTTP.

One MLflow server and one serving process are shared by the module (each takes
seconds to start); tests that change the registry run in file order, which is
the order of the model's life: train, serve, predict, retrain worse, retrain
better, follow the alias.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from service import catalog
from service.train import train
from tests import servers
from tests.otlp_sink import Sink, otlp_sink
from tests.service.pushgateway import running_pushgateway

MODEL = "iris-classifier"
GOOD_ROW = [5.1, 3.5, 1.4, 0.2]
MAX_BATCH = 64
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="module")
def mlflow_url(workdir: Path) -> Iterator[str]:
    server = servers.mlflow_server(workdir / "mlflow")
    with servers.running(server, servers.http_ok(f"{server.url}/health")):
        yield server.url


@pytest.fixture(scope="module")
def first_version(mlflow_url: str) -> str:
    outcome = train(mlflow_url, MODEL, "champion", c=0.05, seed=0)
    assert outcome.promoted
    return outcome.version


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with otlp_sink() as s:
        yield s


def _settings(mlflow_url: str, workdir: Path, sink_url: str) -> dict[str, str]:
    return {
        "mlflow_tracking_uri": mlflow_url,
        "model_name": MODEL,
        "alias_poll_seconds": "1",
        "load_retry_initial_seconds": "0.2",
        "load_retry_max_seconds": "1",
        "max_batch_size": str(MAX_BATCH),
        "max_body_bytes": str(MAX_BODY),
        "drift_update_seconds": "0.5",
        "drift_min_rows": "20",
        "inputs_dir": str(workdir / "inputs"),
        "otlp_protocol": "http/protobuf",
        "otlp_endpoint": sink_url,
    }


@pytest.fixture(scope="module")
def api(mlflow_url: str, first_version: str, workdir: Path, sink: Sink) -> Iterator[servers.Server]:
    server = servers.serving(workdir / "serving", _settings(mlflow_url, workdir, sink.url))
    with servers.running(server, servers.http_ok(f"{server.url}/readyz")):
        yield server


def predict(api: servers.Server, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{api.url}/predict", json=body, timeout=10, **kwargs)


def metrics(api: servers.Server) -> dict[str, list[Any]]:
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    families: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            families.setdefault(sample.name, []).append(sample)
    return families


def test_a_prediction_names_its_class_confidence_and_the_version_that_made_it(
    api: servers.Server, first_version: str
) -> None:
    response = predict(api, {"instances": [GOOD_ROW, [6.7, 3.0, 5.2, 2.3]]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["class"] for p in body["predictions"]] == ["setosa", "virginica"]
    assert all(0.34 < p["confidence"] <= 1 for p in body["predictions"])
    assert body["model"] == {"name": MODEL, "version": first_version, "alias": "champion"}


def _big_body() -> bytes:
    return b'{"instances": [' + b",".join([b"[1.0, 2.0, 3.0, 4.0]"] * 4000) + b"]}"


# (sentence id, body as bytes or JSON-able, expected status, expected reason)
BAD_INPUTS: list[tuple[str, Any, int, str]] = [
    ("malformed JSON", b"{bad json", 400, "malformed_json"),
    ("truncated JSON", b'{"instances": [[1, 2', 400, "malformed_json"),
    ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000, 413, "body_too_large"),
    ("a JSON array instead of an object", [GOOD_ROW], 400, "wrong_type"),
    ("a JSON string", "instances", 400, "wrong_type"),
    ("a JSON number", 42, 400, "wrong_type"),
    ("JSON null", None, 400, "wrong_type"),
    ("an empty object", {}, 400, "wrong_type"),
    ("another key than instances", {"inputs": [GOOD_ROW]}, 400, "wrong_type"),
    ("instances as a string", {"instances": "5.1,3.5,1.4,0.2"}, 400, "wrong_type"),
    ("instances as an object", {"instances": {"a": 1}}, 400, "wrong_type"),
    ("a row that is a number", {"instances": [5.1]}, 400, "wrong_type"),
    ("a row that is an object", {"instances": [{"sepal_length_cm": 5.1}]}, 400, "wrong_type"),
    ("a value that is a string", {"instances": [[5.1, 3.5, "1.4", 0.2]]}, 400, "wrong_type"),
    ("a value that is null", {"instances": [[5.1, 3.5, None, 0.2]]}, 400, "wrong_type"),
    ("a value that is a boolean", {"instances": [[True, 3.5, 1.4, 0.2]]}, 400, "wrong_type"),
    ("a value that is a list", {"instances": [[[5.1], 3.5, 1.4, 0.2]]}, 400, "wrong_type"),
    ("an empty batch", {"instances": []}, 422, "empty_batch"),
    ("too few features", {"instances": [[5.1, 3.5, 1.4]]}, 422, "wrong_feature_count"),
    ("too many features", {"instances": [[5.1, 3.5, 1.4, 0.2, 9.9]]}, 422, "wrong_feature_count"),
    ("an empty row", {"instances": [[]]}, 422, "wrong_feature_count"),
    (
        "a short row after good ones",
        {"instances": [GOOD_ROW, GOOD_ROW, [1.0]]},
        422,
        "wrong_feature_count",
    ),
    ("NaN", b'{"instances": [[NaN, 3.5, 1.4, 0.2]]}', 422, "not_finite"),
    ("Infinity", b'{"instances": [[5.1, Infinity, 1.4, 0.2]]}', 422, "not_finite"),
    ("-Infinity", b'{"instances": [[5.1, 3.5, -Infinity, 0.2]]}', 422, "not_finite"),
    (
        "a number too large for a float",
        b'{"instances": [[1e999, 3.5, 1.4, 0.2]]}',
        422,
        "not_finite",
    ),
    (
        "a batch above the limit",
        {"instances": [GOOD_ROW] * (MAX_BATCH + 1)},
        422,
        "batch_too_large",
    ),
    ("a body above the limit", _big_body(), 413, "body_too_large"),
    ("an empty body", b"", 400, "wrong_type"),
]


@pytest.mark.parametrize(
    ("body", "status", "reason"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_gets_a_4xx_with_a_json_body_saying_what_is_wrong(
    api: servers.Server, body: Any, status: int, reason: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        f"{api.url}/predict",
        content=content,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["reason"] == reason
    assert error["message"]


def test_the_bad_input_corpus_has_at_least_25_cases() -> None:
    assert len(BAD_INPUTS) >= 25


def test_a_chunked_body_over_the_limit_is_refused_too(api: servers.Server) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"instances": ['
        for _ in range(5000):
            yield b"[1.0, 2.0, 3.0, 4.0],"
        yield b"[1.0, 2.0, 3.0, 4.0]]}"

    response = httpx.post(
        f"{api.url}/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["reason"] == "body_too_large"


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)
rows = st.lists(
    st.floats(allow_nan=True, allow_infinity=True) | st.integers() | json_values, max_size=6
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries({"instances": st.lists(rows, max_size=MAX_BATCH + 3)}),
)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(body=bodies)
def test_generated_requests_never_get_a_5xx(api: servers.Server, body: Any) -> None:
    content = json.dumps(body, allow_nan=True).encode()
    response = httpx.post(
        f"{api.url}/predict",
        content=content,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert ("error" in response.json()) == (response.status_code != 200)


def test_every_serving_catalog_metric_is_on_the_live_metrics(api: servers.Server) -> None:
    made = predict(api, {"instances": [GOOD_ROW] * 20}).json()["predictions"]
    labels = [{"prediction_id": made[0]["prediction_id"], "label": made[0]["class"]}]
    assert (
        httpx.post(f"{api.url}/feedback", json={"feedback": labels}, timeout=10).status_code == 200
    )
    servers.wait_until(
        lambda: catalog.FEATURE_DRIFT_PSI.name in metrics(api),
        10,
        "drift gauge computed off the request path",
    )
    exposed = metrics(api)
    expected = [
        m for m in catalog.CATALOG if m.source in (catalog.Source.SERVING, catalog.Source.BENTOML)
    ]
    missing = [s for m in expected for s in m.series() if s not in exposed]
    assert missing == []
    buckets = {
        float(s.labels["le"]) for s in exposed["bentoml_service_request_duration_seconds_bucket"]
    }
    assert buckets == {*catalog.REQUEST_DURATION_BUCKETS, math.inf}


def _series_count(api: servers.Server) -> int:
    return sum(len(samples) for samples in metrics(api).values())


def test_series_stay_bounded_whatever_the_inputs_and_clients(api: servers.Server) -> None:
    def mixed_load(seed: int) -> None:
        for i in range(60):
            value = seed * 1000 + i + 0.123
            client = {"user-agent": f"client-{seed}-{i}", "x-request-id": str(uuid.uuid4())}
            predict(api, {"instances": [[value % 8, 3.0, (value % 7) + 0.1, 1.2]]}, headers=client)
            predict(api, {"instances": [[value, "x", 1, 2]]}, headers=client)
            predict(api, {"instances": [[value]]}, headers=client)

    mixed_load(1)
    first = _series_count(api)
    mixed_load(2)
    second = _series_count(api)
    print(f"series on /metrics after mixed load: {first}, after as much again: {second}")
    assert first < 500
    assert second == first


def test_spans_reach_the_otlp_receiver_and_log_lines_carry_the_same_trace_id(
    api: servers.Server, sink: Sink
) -> None:
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    assert (
        predict(api, {"instances": [GOOD_ROW]}, headers={"traceparent": parent}).status_code == 200
    )
    assert predict(api, {"instances": [[1.0]]}, headers={"traceparent": parent}).status_code == 422
    servers.wait_until(
        lambda: (
            {"predict", "validate", "inference"}
            <= {s.name for s in sink.spans if s.trace_id == trace_id}
        ),
        15,
        "spans exported",
    )
    spans = [s for s in sink.spans if s.trace_id == trace_id]
    assert {s.attributes.get("mlops.outcome") for s in spans if s.name == "predict"} == {
        "ok",
        "wrong_feature_count",
    }
    assert all(s.service == "mlops-serving" for s in spans)
    lines = [json.loads(line) for line in api.output(200_000).splitlines() if line.startswith("{")]
    ours = [entry for entry in lines if entry.get("trace_id") == trace_id]
    assert {entry["outcome"] for entry in ours} == {"ok", "wrong_feature_count"}
    assert all(re.fullmatch(r"[0-9a-f]{16}", entry["span_id"]) for entry in ours)
    assert any(entry.get("model_version") for entry in ours)


def test_recent_inputs_are_written_for_the_drift_job(api: servers.Server, workdir: Path) -> None:
    predict(api, {"instances": [[7.7, 2.6, 6.9, 2.3]]})
    path = workdir / "inputs" / f"{MODEL}.jsonl"
    servers.wait_until(lambda: path.exists() and "7.7" in path.read_text(), 10, "inputs written")
    last = json.loads(path.read_text().splitlines()[-1])
    assert len(last["x"]) == 4


def _served_version(api: servers.Server) -> str:
    return str(predict(api, {"instances": [GOOD_ROW]}).json()["model"]["version"])


def test_a_worse_model_does_not_move_the_alias(
    api: servers.Server, mlflow_url: str, first_version: str
) -> None:
    outcome = train(mlflow_url, MODEL, "champion", c=0.0005, seed=0)
    assert not outcome.promoted
    assert outcome.accuracy < (outcome.champion_accuracy or 0)
    assert _served_version(api) == first_version


def test_a_better_model_is_served_without_a_restart(
    api: servers.Server, mlflow_url: str, first_version: str
) -> None:
    pid = api.process.pid
    outcome = train(mlflow_url, MODEL, "champion", c=1.0, seed=0)
    assert outcome.promoted
    assert outcome.accuracy > (outcome.champion_accuracy or 1)
    servers.wait_until(lambda: _served_version(api) == outcome.version, 20, "new champion served")
    info = {
        s.labels["model_version"]: s.value
        for s in metrics(api)[catalog.MODEL_INFO.name]
        if s.labels["model_alias"] == "champion"
    }
    assert info[outcome.version] == 1
    assert info[first_version] == 0
    assert api.process.pid == pid
    assert api.alive()


def test_the_service_waits_for_mlflow_without_crashing_and_becomes_ready(
    mlflow_url: str, first_version: str, workdir: Path, sink: Sink
) -> None:
    port = servers.free_port()
    settings_ = _settings(f"http://127.0.0.1:{port}", workdir, sink.url)
    server = servers.serving(workdir / "serving-late", settings_)
    with servers.running(server, servers.http_ok(f"{server.url}/livez")):
        servers.wait_until(
            lambda: any(
                s.value > 0
                for s in metrics(server).get(catalog.MODEL_LOAD_FAILURES.name, [])
                if s.labels["reason"] == "registry_unreachable"
            ),
            30,
            "load failures counted",
            server,
        )
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        response = predict(server, {"instances": [GOOD_ROW]})
        assert response.status_code == 503
        assert response.json()["error"]["reason"] == "model_not_loaded"
        # The registry comes up (same store, the port the service was told).
        late = servers.mlflow_server(workdir / "mlflow", port)
        with servers.running(late, servers.http_ok(f"{late.url}/health")):
            servers.wait_until(
                servers.http_ok(f"{server.url}/readyz"), 60, "ready once MLflow is up", server
            )
            assert predict(server, {"instances": [GOOD_ROW]}).status_code == 200
        assert server.alive()


def _pushed(url: str) -> dict[tuple[str, str], float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (s.name, s.labels.get("metric", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("job") == catalog.TRAINING_JOB and s.labels.get("model") == MODEL
    }


def test_training_pushes_its_outcome_and_a_failure_keeps_the_last_success(
    mlflow_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.train import main  # noqa: PLC0415

    with running_pushgateway(workdir) as pushgateway:
        before = time.time()
        assert (
            main(["--tracking-uri", mlflow_url, "--model", MODEL, "--pushgateway", pushgateway])
            == 0
        )
        ok = _pushed(pushgateway)
        assert ok[(catalog.TRAINING_LAST_RUN_SUCCESS.name, "")] == 1
        assert ok[(catalog.TRAINING_LAST_SUCCESS.name, "")] >= before
        assert 0.8 < ok[(catalog.TRAINING_SCORE.name, "accuracy")] <= 1
        assert 0 < ok[(catalog.TRAINING_SCORE.name, "f1_macro")] <= 1
        assert ok[(catalog.TRAINING_DURATION.name, "")] > 0

        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        dead = f"http://127.0.0.1:{servers.free_port()}"
        assert main(["--tracking-uri", dead, "--model", MODEL, "--pushgateway", pushgateway]) == 1
        failed = _pushed(pushgateway)
        assert failed[(catalog.TRAINING_LAST_RUN_SUCCESS.name, "")] == 0
        assert (
            failed[(catalog.TRAINING_LAST_SUCCESS.name, "")]
            == ok[(catalog.TRAINING_LAST_SUCCESS.name, "")]
        )
        assert (
            failed[(catalog.TRAINING_SCORE.name, "accuracy")]
            == ok[(catalog.TRAINING_SCORE.name, "accuracy")]
        )


def test_log_lines_reach_the_otlp_receiver_as_json_with_their_trace(
    api: servers.Server, sink: Sink
) -> None:
    """What Loki gets through the collector: the stdout JSON line as the body, the trace
    context on the record, and the service name the logs dashboard selects on."""
    trace_id = uuid.uuid4().hex
    parent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    assert predict(api, {"instances": [[1.0]]}, headers={"traceparent": parent}).status_code == 422
    servers.wait_until(
        lambda: any(r.trace_id == trace_id for r in sink.logs), 15, "log records exported"
    )
    (record,) = [r for r in sink.logs if r.trace_id == trace_id]
    body = json.loads(record.body)
    assert body["trace_id"] == trace_id
    assert body["span_id"] == record.span_id
    assert body["outcome"] == "wrong_feature_count"
    assert record.severity == "INFO"
    assert record.service == "mlops-serving"
