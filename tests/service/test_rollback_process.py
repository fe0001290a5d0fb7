"""The rollback service as a real process against a real MLflow registry and Pushgateway:
a worse version promoted is rolled back by an Alertmanager-shaped notification with no
human step; the same notification again changes nothing; one without the token is refused."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from infra import conventions as cv
from infra import endpoints as ep
from infra.render.alertmanager import alertmanager_config
from service import catalog
from service.promote import PREVIOUS_TAG
from service.promote import main as promote
from service.rollback import LAST_ROLLBACK_TAG
from service.train import train
from tests import servers, tools
from tests.conftest import spec_with
from tests.service.pushgateway import running_pushgateway

C = cv.Component
MODEL = "guarded-classifier"
TOKEN = "a-token-only-alertmanager-has"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Stack:
    mlflow: str
    pushgateway: str
    rollback: str


def _rollback_server(folder: Path, mlflow: str, pushgateway: str) -> servers.Server:
    token = folder / "secrets" / "rollback-token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(TOKEN)
    token.chmod(0o600)
    port = servers.free_port()
    env = {
        "MLOPS_ROLLBACK_MLFLOW_TRACKING_URI": mlflow,
        "MLOPS_ROLLBACK_TOKEN_FILE": str(token),
        "MLOPS_ROLLBACK_ALERTS": "ServingLowAccuracy,ServingLowEstimatedAccuracy",
        "MLOPS_ROLLBACK_MODELS": MODEL,
        "MLOPS_ROLLBACK_PROMOTED_WITHIN_SECONDS": "86400",
        "MLOPS_ROLLBACK_COOLDOWN_SECONDS": "21600",
        "MLOPS_ROLLBACK_PUSHGATEWAY_URL": pushgateway,
        "MLOPS_ROLLBACK_PORT": str(port),
    }
    return servers.start(
        "rollback",
        [sys.executable, "-m", "service.rollback"],
        f"http://127.0.0.1:{port}",
        folder / f"rollback-{port}.log",
        env=env,
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """v1 the champion, v2 (worse) trained beside it and then promoted by hand."""
    folder = tmp_path_factory.mktemp("rollback")
    mlflow = servers.mlflow_server(folder / "mlflow")
    with servers.running(mlflow, servers.http_ok(f"{mlflow.url}/health")):
        assert train(mlflow.url, MODEL, "champion", c=1.0, seed=0).promoted
        assert not train(mlflow.url, MODEL, "champion", c=0.001, seed=0).promoted
        with running_pushgateway(folder) as pushgateway:
            server = _rollback_server(folder, mlflow.url, pushgateway)
            with servers.running(server, servers.http_ok(f"{server.url}/readyz"), timeout=60):
                yield Stack(mlflow.url, pushgateway, server.url)


def _champion(url: str) -> str:
    return str(MlflowClient(url).get_model_version_by_alias(MODEL, "champion").version)


def _tags(url: str, version: str) -> dict[str, str]:
    return _tags_of(url, MODEL, version)


def _tags_of(url: str, model: str, version: str) -> dict[str, str]:
    return dict(MlflowClient(url).get_model_version(model, version).tags)


def _notification(status: str = "firing") -> dict[str, object]:
    """What Alertmanager posts for ServingLowAccuracy on v2 (webhook payload version 4)."""
    labels = {"alertname": "ServingLowAccuracy", "model": MODEL, "model_version": "2",
              "severity": "critical", "job": "serving"}  # fmt: skip
    return {
        "version": "4",
        "groupKey": '{}/{alertname=~"^(?:ServingLowAccuracy)$"}:{alertname="ServingLowAccuracy"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rollback",
        "groupLabels": {"alertname": "ServingLowAccuracy"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": f"Model {MODEL} v2 gets too many answers wrong."},
                "startsAt": "2027-01-15T08:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "fingerprint-of-v2",
            }
        ],
    }


def _counted(stack: Stack, outcome: str) -> float:
    text = httpx.get(f"{stack.rollback}/metrics", timeout=5).text
    return next(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == catalog.ROLLBACK_DECISIONS.name
        and s.labels == {"model": MODEL, "outcome": outcome}
    )


def _events(pushgateway: str) -> list[dict[str, str]]:
    text = httpx.get(f"{pushgateway}/metrics", timeout=5).text
    return [
        dict(s.labels)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == catalog.MODEL_DEPLOYMENT.name and s.labels["model"] == MODEL
    ]


def test_a_notification_without_the_token_is_refused_and_changes_nothing(stack: Stack) -> None:
    assert promote(["--tracking-uri", stack.mlflow, "--model", MODEL, "--version", "2",
                    "--reason", "looked fine offline", "--who", "ana"]) == 0  # fmt: skip
    before = MlflowClient(stack.mlflow).get_registered_model(MODEL).tags
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        answer = httpx.post(f"{stack.rollback}/alerts", json=_notification(), headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["reason"] == "unauthorized"
    answer = httpx.post(f"{stack.rollback}/alerts", content=b"{", headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"]["reason"] == "malformed"
    assert _champion(stack.mlflow) == "2"
    assert MlflowClient(stack.mlflow).get_registered_model(MODEL).tags == before


def test_a_firing_accuracy_alert_rolls_the_worse_version_back(stack: Stack) -> None:
    assert _champion(stack.mlflow) == "2"
    assert _tags(stack.mlflow, "2")[PREVIOUS_TAG] == "1"
    answer = httpx.post(f"{stack.rollback}/alerts", json=_notification(), headers=AUTH, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decisions"][0]["outcome"] == "rolled_back"
    assert _champion(stack.mlflow) == "1"
    restored, demoted = _tags(stack.mlflow, "1"), _tags(stack.mlflow, "2")
    assert restored["mlops.promoted_action"] == "rollback"
    assert restored["mlops.promoted_by"] == "service.rollback"
    assert demoted["mlops.demoted_by"] == "service.rollback"
    assert demoted["mlops.rollback_alert"] == "ServingLowAccuracy"
    assert demoted["mlops.rollback_alert_fingerprint"] == "fingerprint-of-v2"
    assert demoted["mlops.rollback_alert_starts_at"] == "2027-01-15T08:00:00.000Z"
    assert "too many answers wrong" in demoted["mlops.rollback_alert_summary"]
    model_tags = MlflowClient(stack.mlflow).get_registered_model(MODEL).tags
    assert LAST_ROLLBACK_TAG in model_tags
    assert _counted(stack, "rolled_back") == 1
    (event,) = _events(stack.pushgateway)
    assert (event["model_version"], event["action"]) == ("1", "rollback")


def test_the_same_notification_again_does_not_roll_back_again(stack: Stack) -> None:
    assert _champion(stack.mlflow) == "1"
    answer = httpx.post(f"{stack.rollback}/alerts", json=_notification(), headers=AUTH, timeout=30)
    assert answer.status_code == 200
    assert answer.json()["decisions"][0]["outcome"] == "not_champion"
    assert _champion(stack.mlflow) == "1"
    assert _counted(stack, "rolled_back") == 1
    assert _counted(stack, "not_champion") == 1
    resolved = httpx.post(
        f"{stack.rollback}/alerts", json=_notification("resolved"), headers=AUTH, timeout=30
    )
    assert resolved.json()["decisions"][0]["outcome"] == "resolved"
    assert _champion(stack.mlflow) == "1"


# --- with a real Alertmanager, from the rendered config ------------------------------------

OTHER = "guarded-classifier-b"


def _alertmanager(folder: Path, rollback: str) -> servers.Server:
    """Alertmanager (the pinned version) with the config the renderer writes for a stack that
    enables the rollback; the token in the file its credentials_file names."""
    spec = spec_with(
        "dev",
        rollback={"enabled": True, "tokenSecret": "rollbackToken"},
        alertmanager={
            "resources": {"cpuRequest": "50m", "memoryRequest": "64Mi", "memoryLimit": "128Mi"},
            "receivers": [{"name": "default", "kind": "discard"}],
            "route": {"receiver": "default", "groupWait": "1s", "groupInterval": "1s",
                      "repeatInterval": "1h"},
        },
    )  # fmt: skip
    port = servers.free_port()
    endpoints = ep.local(
        {C.ALERTMANAGER: {"http": port}, C.ROLLBACK: {"http": int(rollback.rsplit(":", 1)[1])}},
        {},
        files_root=str(folder / "files"),
    )
    config = alertmanager_config(spec, endpoints)
    (folder / "alertmanager.yml").write_text(config)
    (hook,) = [
        r["webhook_configs"][0] for r in yaml.safe_load(config)["receivers"]
        if r["name"] == cv.ROLLBACK_RECEIVER
    ]  # fmt: skip
    token = Path(hook["http_config"]["authorization"]["credentials_file"])
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(TOKEN)
    return servers.start(
        "alertmanager",
        [tools.alertmanager(), f"--config.file={folder / 'alertmanager.yml'}",
         f"--storage.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        f"http://127.0.0.1:{port}",
        folder / "alertmanager.log",
        cwd=folder,
    )  # fmt: skip


def test_alertmanager_with_the_rendered_config_rolls_back_with_no_human_step(
    stack: Stack, tmp_path: Path
) -> None:
    assert train(stack.mlflow, OTHER, "champion", c=1.0, seed=0).promoted
    assert not train(stack.mlflow, OTHER, "champion", c=0.001, seed=0).promoted
    assert promote(["--tracking-uri", stack.mlflow, "--model", OTHER, "--version", "2",
                    "--reason", "looked fine offline", "--who", "ana"]) == 0  # fmt: skip
    server = _alertmanager(tmp_path, stack.rollback)
    with servers.running(server, servers.http_ok(f"{server.url}/-/ready"), timeout=60):
        labels = {"alertname": "ServingLowAccuracy", "model": OTHER, "model_version": "2",
                  "severity": "critical"}  # fmt: skip
        alert = {"labels": labels, "annotations": {"summary": f"{OTHER} v2 is wrong too often"}}
        posted = httpx.post(f"{server.url}/api/v2/alerts", json=[alert], timeout=10)
        assert posted.status_code == 200
        # The alias moves first, then the tags are written: wait for the last one.
        servers.wait_until(
            lambda: (
                LAST_ROLLBACK_TAG in MlflowClient(stack.mlflow).get_registered_model(OTHER).tags
            ),
            60,
            "the rollback through Alertmanager",
            server,
        )
    champion = MlflowClient(stack.mlflow).get_model_version_by_alias(OTHER, "champion")
    assert str(champion.version) == "1"
    demoted = _tags_of(stack.mlflow, OTHER, "2")
    assert demoted["mlops.rollback_alert"] == "ServingLowAccuracy"
    assert demoted["mlops.rollback_alert_fingerprint"]  # Alertmanager's own
