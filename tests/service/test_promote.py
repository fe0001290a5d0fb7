"""The promote command against a real MLflow registry and a real Pushgateway: promotion,
rollback, the record it leaves, and the refusals."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from service import catalog
from service.promote import PREVIOUS_TAG, main
from service.train import train
from tests import servers
from tests.service.pushgateway import running_pushgateway

MODEL = "promoted-classifier"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """An MLflow server holding a champion (v1) and a worse version (v2) that was not promoted."""
    folder = tmp_path_factory.mktemp("promote")
    server = servers.mlflow_server(folder / "mlflow")
    with servers.running(server, servers.http_ok(f"{server.url}/health")):
        assert train(server.url, MODEL, "champion", c=1.0, seed=0).promoted
        worse = train(server.url, MODEL, "champion", c=0.001, seed=0)
        assert not worse.promoted
        with running_pushgateway(folder) as pushgateway:
            yield server.url, pushgateway


def _champion(url: str) -> str:
    return str(MlflowClient(url).get_model_version_by_alias(MODEL, "champion").version)


def _tags(url: str, version: str) -> dict[str, str]:
    return dict(MlflowClient(url).get_model_version(MODEL, version).tags)


def _events(pushgateway: str) -> list[dict[str, str]]:
    text = httpx.get(f"{pushgateway}/metrics", timeout=5).text
    return [
        {**s.labels, "value": str(s.value)}
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == catalog.MODEL_DEPLOYMENT.name
    ]


def _run(url: str, pushgateway: str, *args: str) -> int:
    return main(["--tracking-uri", url, "--model", MODEL, "--pushgateway", pushgateway, *args])


def test_a_version_the_training_job_promotes_can_be_rolled_back(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("train-rollback")
    server = servers.mlflow_server(folder / "mlflow")
    with servers.running(server, servers.http_ok(f"{server.url}/health")):
        assert train(server.url, MODEL, "champion", c=0.01, seed=0).promoted
        better = train(server.url, MODEL, "champion", c=1.0, seed=0)
        assert better.promoted
        assert _tags(server.url, better.version)[PREVIOUS_TAG] == "1"
        assert main(["--tracking-uri", server.url, "--model", MODEL, "--rollback",
                     "--reason", "the new one misbehaves"]) == 0  # fmt: skip
        assert _champion(server.url) == "1"


def test_promoting_a_version_moves_the_alias_and_leaves_a_record(
    registry: tuple[str, str],
) -> None:
    url, pushgateway = registry
    assert _champion(url) == "1"
    assert (
        _run(url, pushgateway, "--version", "2", "--reason", "canary looked fine", "--who", "ana")
        == 0
    )
    assert _champion(url) == "2"
    promoted, demoted = _tags(url, "2"), _tags(url, "1")
    assert promoted["mlops.promoted_by"] == "ana"
    assert promoted["mlops.promoted_reason"] == "canary looked fine"
    assert promoted[PREVIOUS_TAG] == "1"
    assert demoted["mlops.demoted_by"] == "ana"
    (event,) = _events(pushgateway)
    assert (event["model"], event["model_version"], event["action"]) == (MODEL, "2", "promote")
    assert event["job"] == catalog.DEPLOYMENT_JOB


def test_rolling_back_serves_the_previous_champion_again(registry: tuple[str, str]) -> None:
    url, pushgateway = registry
    assert _champion(url) == "2"
    assert _run(url, pushgateway, "--rollback", "--reason", "accuracy dropped", "--who", "bo") == 0
    assert _champion(url) == "1"
    assert _tags(url, "1")["mlops.promoted_action"] == "rollback"
    assert _tags(url, "2")["mlops.demoted_reason"] == "accuracy dropped"
    (event,) = _events(pushgateway)  # one event per model: the latest move
    assert (event["model_version"], event["action"]) == ("1", "rollback")


def test_a_rollback_with_nothing_on_record_is_refused_and_changes_nothing(
    registry: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, pushgateway = registry
    assert _champion(url) == "1"  # a rollback does not record where it came from
    assert _run(url, pushgateway, "--rollback", "--reason", "again") == 2
    assert "has no previous champion on record" in capsys.readouterr().err
    assert _champion(url) == "1"


def test_unknown_versions_and_missing_reasons_are_usage_errors(
    registry: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, pushgateway = registry
    assert _run(url, pushgateway, "--version", "99", "--reason", "typo") == 2
    assert f"{MODEL} has no version 99" in capsys.readouterr().err
    assert _run(url, pushgateway, "--version", "2", "--reason", "  ") == 2
    assert _run(url, pushgateway, "--version", "two", "--reason", "x") == 2
    assert _run(url, pushgateway, "--version", "2") == 2  # --reason is required
    assert _champion(url) == "1"


def test_promoting_the_current_champion_changes_nothing(registry: tuple[str, str]) -> None:
    url, pushgateway = registry
    before = _events(pushgateway)
    assert _run(url, pushgateway, "--version", "1", "--reason", "no-op") == 0
    assert _champion(url) == "1"
    assert _events(pushgateway) == before


def test_an_unreachable_registry_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail now, not after back-off
    down = f"http://127.0.0.1:{servers.free_port()}"
    code = main(["--tracking-uri", down, "--model", MODEL, "--version", "1", "--reason", "x"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"python -m service.promote: error: MLflow at {down}")
    assert "Traceback" not in err
