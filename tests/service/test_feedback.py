"""Ground truth over real HTTP: feedback matched to predictions, accuracy by version, and
everything a client can get wrong (late, duplicate, unknown ids and labels, bad bodies); and
the accuracy expected before labels, from the version's calibration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.datasets import load_iris
from sklearn.metrics import f1_score

from service import calibration
from service.calibration import Calibration
from service.catalog import EXPECTED_CORRECT_PREDICTIONS
from service.train import train
from tests import servers

MODEL = "feedback-classifier"
EXPECTED = EXPECTED_CORRECT_PREDICTIONS.name
CAPACITY = 300


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Server]:
    registry = servers.mlflow_server(tmp_path_factory.mktemp("feedback-mlflow"))
    with servers.running(registry, servers.http_ok(f"{registry.url}/health")):
        # A weak model (strong regularisation) gets some rows wrong: accuracy is not trivially 1.
        assert train(registry.url, MODEL, "champion", c=0.02, seed=0).promoted
        yield registry


@pytest.fixture(scope="module")
def api(
    registry: servers.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[servers.Server]:
    settings = {
        "mlflow_tracking_uri": registry.url,
        "model_name": MODEL,
        "tracing": "false",
        "log_export": "false",
        "feedback_capacity": str(CAPACITY),
        "feedback_window": "1000",
    }
    server = servers.serving(tmp_path_factory.mktemp("feedback-serving"), settings)
    with servers.running(server, servers.http_ok(f"{server.url}/readyz")):
        yield server


def _predict(api: servers.Server, rows: list[list[float]]) -> list[dict[str, Any]]:
    answer = httpx.post(f"{api.url}/predict", json={"instances": rows}, timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["predictions"])


def _feedback(api: servers.Server, body: Any) -> httpx.Response:
    return httpx.post(f"{api.url}/feedback", json=body, timeout=10)


def _samples(api: servers.Server, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def _value(api: servers.Server, name: str, **labels: str) -> float:
    return sum(v for k, v in _samples(api, name).items() if labels.items() <= dict(k).items())


def test_matched_feedback_moves_accuracy_and_f1_to_what_the_labels_say(
    api: servers.Server,
) -> None:
    iris = load_iris()
    rows = [list(map(float, r)) for r in iris.data[::3]]  # 50 rows, every class
    truth = [str(iris.target_names[t]) for t in iris.target[::3]]
    made = _predict(api, rows)
    # Labels arrive late and out of order.
    labelled = list(zip(made, truth, strict=True))[::-1]
    answer = _feedback(api, {"feedback": [
        {"prediction_id": p["prediction_id"], "label": t} for p, t in labelled
    ]})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["counts"]["matched"] == len(rows)
    predicted = [p["class"] for p in made]
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(rows)
    assert 0.3 < accuracy < 1  # the test would prove little on a perfect model
    version = {"model": MODEL, "model_version": "1"}
    assert _value(api, "mlops_model_accuracy", **version) == pytest.approx(accuracy)
    assert _value(api, "mlops_model_macro_f1", **version) == pytest.approx(
        f1_score(truth, predicted, average="macro")
    )
    assert _value(api, "mlops_labelled_predictions_total", correct="true", **version) == round(
        accuracy * len(rows)
    )
    assert _value(api, "mlops_labelled_predictions_total", **version) == len(rows)


def _calibration(registry: servers.Server, version: str, folder: Path) -> Calibration:
    import mlflow  # noqa: PLC0415

    registered = mlflow.MlflowClient(registry.url).get_model_version(MODEL, version)
    path = mlflow.artifacts.download_artifacts(
        run_id=registered.run_id,
        artifact_path=registered.tags[calibration.TAG],
        dst_path=str(folder),
        tracking_uri=registry.url,
    )
    return Calibration.load(Path(path))


def test_the_expected_correct_count_is_the_sum_of_the_calibrated_confidences_served(
    api: servers.Server, registry: servers.Server, tmp_path: Path
) -> None:
    calibrated = _calibration(registry, "1", tmp_path)
    assert len(calibrated.x) > 1  # a real step function, not a constant
    version = {"model": MODEL, "model_version": "1", "calibrated": "true"}
    before = _value(api, EXPECTED, **version)
    iris = load_iris()
    confidences = [p["confidence"] for p in _predict(api, iris.data.tolist())]
    expected = float(calibrated(confidences).sum())
    assert _value(api, EXPECTED, **version) - before == pytest.approx(expected, rel=1e-9)
    # Not the raw confidences: the calibration moved them (this model is underconfident).
    assert expected > sum(confidences) + 10
    assert _samples(api, EXPECTED).keys() == {tuple(sorted(version.items()))}


def test_unknown_duplicate_and_impossible_labels_are_answered_and_counted(
    api: servers.Server,
) -> None:
    (made,) = _predict(api, [[5.1, 3.5, 1.4, 0.2]])
    before = {o: _value(api, "mlops_feedback_total", outcome=o)
              for o in ("matched", "unknown_id", "duplicate", "unknown_label")}  # fmt: skip
    items = [
        {"prediction_id": made["prediction_id"], "label": "dragon"},  # not a class of the model
        {"prediction_id": made["prediction_id"], "label": "setosa"},
        {"prediction_id": made["prediction_id"], "label": "setosa"},  # sent twice
        {"prediction_id": uuid.uuid4().hex, "label": "setosa"},  # never made here
    ]
    answer = _feedback(api, {"feedback": items})
    assert answer.status_code == 200
    outcomes = [r["outcome"] for r in answer.json()["results"]]
    assert outcomes == ["unknown_label", "matched", "duplicate", "unknown_id"]
    for outcome, count in before.items():
        assert _value(api, "mlops_feedback_total", outcome=outcome) == count + 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"feedback": "setosa"}, 400),
        ({"feedback": []}, 422),
        ({"feedback": [{"prediction_id": "x"}]}, 400),
        ({"feedback": [{"prediction_id": 7, "label": "setosa"}]}, 400),
        ({"feedback": [{"prediction_id": "x", "label": ""}]}, 400),
        ({"feedback": [{"prediction_id": "x", "label": "a"}] * 1000}, 422),
        (["not", "an", "object"], 400),
    ],
)
def test_bad_feedback_bodies_get_a_4xx_with_a_json_reason(
    api: servers.Server, body: Any, status: int
) -> None:
    answer = _feedback(api, body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["reason"] in {"bad_feedback", "wrong_type"}


def test_memory_stays_bounded_under_a_flood_of_predictions_without_feedback(
    api: servers.Server,
) -> None:
    first = _predict(api, [[5.1, 3.5, 1.4, 0.2]])[0]["prediction_id"]
    for _ in range(8):  # 8 x 100 rows: far more than the capacity
        _predict(api, [[6.0, 3.0, 4.5, 1.5]] * 100)
    assert _value(api, "mlops_feedback_pending_predictions", model=MODEL) == CAPACITY
    # The oldest are forgotten, and said so.
    answer = _feedback(api, {"feedback": [{"prediction_id": first, "label": "setosa"}]})
    assert answer.json()["results"][0]["outcome"] == "unknown_id"


def test_the_store_never_keeps_more_than_its_capacity() -> None:
    from service.feedback import FeedbackStore  # noqa: PLC0415

    store = FeedbackStore(capacity=10, window=5)
    for i in range(1000):
        store.record("1", [f"id-{i}"], ["a"], ["a", "b"])
    assert len(store) == 10
    assert store.match("id-999", "a").accuracy == 1.0
    for i in range(990, 999):
        store.match(f"id-{i}", "b")
    assert len(store) == 0
    assert store.match("id-999", "a").outcome == "duplicate"
