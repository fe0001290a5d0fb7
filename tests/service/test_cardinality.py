"""The serving API's /metrics under adversarial load stays within its catalog budget.

The real service (MLflow, training, `bentoml serve`, all on 127.0.0.1) takes bad
JSON, wrong types and feature counts, huge batches and bodies, unknown routes
with long and distinct paths, query strings naming versions, and feedback with
many distinct unknown ids and labels; afterwards its series count, widest series
and longest label value must fit the budget and limits infra.budgets renders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra import budgets
from infra import conventions as cv
from service import catalog
from service.train import train
from tests import servers
from tests.conftest import stack_spec

MODEL = "iris-classifier"
GOOD_ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    workdir = tmp_path_factory.mktemp("cardinality")
    mlflow = servers.mlflow_server(workdir / "mlflow")
    with servers.running(mlflow, servers.http_ok(f"{mlflow.url}/health")):
        assert train(mlflow.url, MODEL, "champion", c=0.05, seed=0).promoted
        settings = {
            "mlflow_tracking_uri": mlflow.url,
            "model_name": MODEL,
            "max_batch_size": "64",
            "max_body_bytes": str(64 * 1024),
            "drift_update_seconds": "0.5",
            "drift_min_rows": "10",
            "tracing": "false",
            "log_export": "false",
        }
        server = servers.serving(workdir / "serving", settings)
        with servers.running(server, servers.http_ok(f"{server.url}/readyz")):
            yield server


def _adversarial(client: httpx.Client) -> None:
    """Every kind of bad input, many distinct values of each."""
    bodies: list[Any] = [
        b"{bad json",
        b"[" * 5000,
        b'{"instances": [[NaN, 1, 2, 3]]}',
        {"instances": [GOOD_ROW] * 500},
        {"instances": [[1.0, 2.0, 3.0]]},
        {"instances": [["x" * 2000, 1, 2, 3]]},
        {"instances": [{"sepal_length_cm": 5.1, "bogus_feature": 1}]},
        {"inputs": [GOOD_ROW], "model_version": "999"},
        {"instances": []},
        b"x" * (70 * 1024),
    ]
    for body in bodies:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        client.post("/predict", headers={"content-type": "application/json"}, **kwargs)
    for i in range(200):
        junk = uuid.uuid4().hex
        client.get(f"/{junk}/{'a' * 300}")
        client.post(f"/predict-{i}", json={"instances": [GOOD_ROW]})
        client.post(f"/predict?version={junk}", json={"instances": [GOOD_ROW]})
        client.get("/predict")
        client.post("/feedback", json={"feedback": [{"prediction_id": junk, "label": junk * 20}]})
        client.post("/feedback", json={"feedback": junk})
        client.post("/predict", json={"instances": [[float(i), 1.0, 2.0, 3.0]] * 64})


def _samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def test_the_live_metrics_stay_within_the_serving_budget_under_adversarial_load(
    api: servers.Server,
) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        _adversarial(client)
        ours = _samples(client.get("/metrics").text)
    budget = budgets.job_budget(cv.JOB[cv.Component.SERVING], stack_spec("dev"))
    limits = budgets.limits(budget)
    catalogued = {s for m in catalog.CATALOG for s in m.series()}
    other = sorted({s.name for s in ours} - catalogued)
    print(f"serving /metrics: {len(ours)} series, budget {budget.series}; not catalogued: {other}")
    assert len(ours) <= budget.series
    runtime = [s for s in ours if s.name not in catalogued]
    assert len(runtime) <= catalog.SERVING_RUNTIME_SERIES, other
    endpoints = {s.labels["endpoint"] for s in ours if "endpoint" in s.labels}
    assert endpoints <= set(catalog.ENDPOINT_STATUSES), endpoints
    assert catalog.UNMATCHED_ENDPOINT in endpoints
    longest = max(len(v) for s in ours for v in s.labels.values())
    assert longest <= limits["label_value_length_limit"]
    widest = max(len(s.labels) for s in ours)
    assert widest <= budget.labels
    assert widest + 1 + budgets.TARGET_LABELS <= limits["label_limit"]


def test_unknown_paths_still_get_a_404_and_routes_still_answer(api: servers.Server) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        assert client.get("/no-such-route").status_code == 404
        assert client.post("/predict", json={"instances": [GOOD_ROW]}).status_code == 200
        assert client.get("/readyz").status_code == 200
