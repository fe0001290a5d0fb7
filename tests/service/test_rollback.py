"""The rollback decision, branch by branch, against a fake registry; and the webhook's
answers (token, malformed bodies, metrics, probes) through its ASGI app."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from service import catalog
from service.promote import (
    PREVIOUS_TAG,
    PROMOTED_ACTION_TAG,
    PROMOTED_AT_TAG,
    Move,
    UsageError,
    timestamp,
)
from service.rollback import (
    LAST_ROLLBACK_TAG,
    Alert,
    Champion,
    Policy,
    RollbackSettings,
    Service,
    alert_time,
    app,
    decide,
)

NOW = 1_800_000_000.0
HOUR = 3600.0
POLICY = Policy(
    frozenset(
        {"ServingLowAccuracy", "ServingLowEstimatedAccuracy", "IrisAccuracyErrorBudgetBurnPage"}
    ),
    "champion",
    24 * HOUR,
    6 * HOUR,
)
TOKEN = "s3cret-token"


@dataclass
class FakeRegistry:
    """A champion (v2, promoted an hour ago over v1) unless a test changes it."""

    version: str = "2"
    tags: dict[str, str] = field(
        default_factory=lambda: {
            PROMOTED_AT_TAG: timestamp(NOW - HOUR),
            PROMOTED_ACTION_TAG: "promote",
            PREVIOUS_TAG: "1",
        }
    )
    model: dict[str, str] = field(default_factory=dict)
    moves: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    fail: Exception | None = None

    def champion(self, model: str, alias: str) -> Champion | None:
        if self.fail is not None:
            raise self.fail
        return Champion(self.version, dict(self.tags)) if self.version else None

    def model_tags(self, model: str) -> dict[str, str]:
        return dict(self.model)

    def roll_back(
        self, model: str, alias: str, version: str, reason: str, why: dict[str, str]
    ) -> Move:
        if version != self.version:
            raise UsageError("moved")
        previous, self.version = self.version, self.tags[PREVIOUS_TAG]
        self.tags = {PROMOTED_ACTION_TAG: "rollback", PROMOTED_AT_TAG: timestamp(NOW)}
        self.moves.append((previous, reason, why))
        return Move(model, alias, "rollback", previous, self.version, NOW, changed=True)

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        self.model[key] = value


def _alert(name: str = "ServingLowAccuracy", status: str = "firing", **labels: str) -> Alert:
    return Alert(
        status=status,
        labels={"alertname": name, "model": "iris", "model_version": "2", **labels},
        annotations={"summary": "Model iris v2 gets too many answers wrong."},
        startsAt="2027-01-15T08:00:00Z",
        fingerprint="abc123",
    )


@pytest.mark.parametrize(
    ("case", "registry", "alert", "outcome"),
    [
        ("a resolved alert is not acted on", FakeRegistry(), _alert(status="resolved"), "resolved"),
        (
            "an alert the spec does not name is not acted on",
            FakeRegistry(),
            _alert("ServingHighErrorRatio"),
            "not_an_accuracy_alert",
        ),
        (
            "an alert without a model is not acted on",
            FakeRegistry(),
            _alert(model="", model_version=""),
            "missing_labels",
        ),
        (
            "an alert naming only the model (an SLO page) is about the champion promoted before it",
            FakeRegistry(),
            _alert("IrisAccuracyErrorBudgetBurnPage", model_version=""),
            "rolled_back",
        ),
        (
            "an alert naming only the model that started before the promotion is left alone",
            FakeRegistry(tags={PROMOTED_AT_TAG: timestamp(NOW + 60), PREVIOUS_TAG: "1"}),
            _alert("IrisAccuracyErrorBudgetBurnPage", model_version=""),
            "not_champion",
        ),
        (
            "an alert naming only the model with no start time is left alone",
            FakeRegistry(),
            _alert("IrisAccuracyErrorBudgetBurnPage", model_version="").model_copy(
                update={"startsAt": ""}
            ),
            "missing_labels",
        ),
        (
            "a version that is not the champion is left alone",
            FakeRegistry(version="3"),
            _alert(),
            "not_champion",
        ),
        (
            "an alias that is not set is left alone",
            FakeRegistry(version=""),
            _alert(),
            "not_champion",
        ),
        (
            "a promotion older than the window is left alone",
            FakeRegistry(tags={PROMOTED_AT_TAG: timestamp(NOW - 25 * HOUR), PREVIOUS_TAG: "1"}),
            _alert(),
            "outside_window",
        ),
        (
            "a champion never promoted on the record is left alone",
            FakeRegistry(tags={}),
            _alert(),
            "outside_window",
        ),
        (
            "a champion with no previous on record is left alone",
            FakeRegistry(tags={PROMOTED_AT_TAG: timestamp(NOW - HOUR)}),
            _alert(),
            "no_previous",
        ),
        (
            "a champion a rollback went to is not rolled back further",
            FakeRegistry(
                tags={
                    PROMOTED_AT_TAG: timestamp(NOW - HOUR),
                    PREVIOUS_TAG: "1",
                    PROMOTED_ACTION_TAG: "rollback",
                }
            ),
            _alert(),
            "no_previous",
        ),
        (
            "a rollback within the cooldown blocks another",
            FakeRegistry(model={LAST_ROLLBACK_TAG: timestamp(NOW - HOUR)}),
            _alert(),
            "cooldown",
        ),
        (
            "an unreadable cooldown record blocks a rollback",
            FakeRegistry(model={LAST_ROLLBACK_TAG: "yesterday"}),
            _alert(),
            "cooldown",
        ),
        (
            "a registry that fails is counted, not guessed around",
            FakeRegistry(fail=ConnectionError("down")),
            _alert(),
            "registry_error",
        ),
        (
            "a rollback past the cooldown is allowed",
            FakeRegistry(model={LAST_ROLLBACK_TAG: timestamp(NOW - 7 * HOUR)}),
            _alert(),
            "rolled_back",
        ),
        (
            "the estimated accuracy alert rolls back too",
            FakeRegistry(),
            _alert("ServingLowEstimatedAccuracy"),
            "rolled_back",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else "",
)
def test_each_guard_decides_its_case(
    case: str, registry: FakeRegistry, alert: Alert, outcome: str
) -> None:
    decision = decide(registry, POLICY, alert, NOW)
    assert decision.outcome == outcome, case
    assert outcome in catalog.ROLLBACK_OUTCOMES
    assert bool(registry.moves) == (outcome == "rolled_back")


def test_a_rollback_records_why_and_starts_the_cooldown() -> None:
    registry = FakeRegistry()
    decision = decide(registry, POLICY, _alert(), NOW)
    assert decision.moved is not None
    assert decision.moved.version == "1"
    ((previous, reason, why),) = registry.moves
    assert previous == "2"
    assert reason == "ServingLowAccuracy firing since 2027-01-15T08:00:00Z"
    assert why["mlops.rollback_alert"] == "ServingLowAccuracy"
    assert why["mlops.rollback_alert_fingerprint"] == "abc123"
    assert "too many answers wrong" in why["mlops.rollback_alert_summary"]
    assert registry.model[LAST_ROLLBACK_TAG] == timestamp(NOW)


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        ("2027-01-15T08:00:00Z", NOW),
        ("2027-01-15T08:00:00.123456789Z", NOW + 0.123456),
        ("2027-01-15T09:00:00+01:00", NOW),
    ],
)
def test_alertmanagers_times_are_read_to_the_microsecond(stamp: str, seconds: float) -> None:
    assert alert_time(stamp) == pytest.approx(seconds, abs=1e-6)


def test_a_second_notification_of_the_same_alert_does_nothing() -> None:
    registry = FakeRegistry()
    assert decide(registry, POLICY, _alert(), NOW).outcome == "rolled_back"
    assert decide(registry, POLICY, _alert(), NOW + 60).outcome == "not_champion"
    assert len(registry.moves) == 1


def test_an_alias_moved_between_the_guard_and_the_move_is_not_acted_on() -> None:
    class Racing(FakeRegistry):
        def roll_back(self, *args: object, **kwargs: object) -> Move:
            raise UsageError("iris@champion is version 3, not 2")

    assert decide(Racing(), POLICY, _alert(), NOW).outcome == "not_champion"


@pytest.fixture
def client(tmp_path: Path) -> tuple[TestClient, FakeRegistry, Service]:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    settings = RollbackSettings(
        mlflow_tracking_uri="file:///nowhere",
        token_file=token,
        alerts="ServingLowAccuracy,ServingLowEstimatedAccuracy",
        models="iris",
        promoted_within_seconds=24 * HOUR,
        cooldown_seconds=6 * HOUR,
    )
    registry = FakeRegistry()
    service = Service(settings, registry)
    return TestClient(app(service), raise_server_exceptions=False), registry, service


def _notification(*alerts: Alert) -> dict[str, object]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "rollback",
        "groupKey": "{}:{}",
        "alerts": [a.model_dump() for a in alerts],
    }


def _counts(client: TestClient, name: str) -> dict[tuple[str, ...], float]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return {
        tuple(s.labels.values()): s.value for f in families for s in f.samples if s.name == name
    }


def test_a_notification_without_the_token_is_refused_and_changes_nothing(
    client: tuple[TestClient, FakeRegistry, Service],
) -> None:
    http, registry, _ = client
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = http.post("/alerts", json=_notification(_alert()), headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["reason"] == "unauthorized"
    assert registry.moves == []
    assert registry.version == "2"
    rejected = _counts(http, catalog.ROLLBACK_REJECTED.name)
    assert rejected[("unauthorized",)] == 3


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"version": "3", "alerts": []}',
        b'{"version": "4"}',
        b'{"version": "4", "alerts": [{"status": "maybe", "labels": {}}]}',
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]}',
    ],
)
def test_a_malformed_notification_gets_a_400_in_json(
    client: tuple[TestClient, FakeRegistry, Service], body: bytes
) -> None:
    http, registry, _ = client
    answer = http.post("/alerts", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400
    assert answer.json()["error"]["reason"] == "malformed"
    assert registry.moves == []


def test_an_authorized_notification_is_decided_alert_by_alert_and_counted(
    client: tuple[TestClient, FakeRegistry, Service],
) -> None:
    http, _registry, _ = client
    notification = _notification(_alert(), _alert("ServingHighErrorRatio"), _alert(model="x"))
    answer = http.post("/alerts", json=notification, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    outcomes = [d["outcome"] for d in answer.json()["decisions"]]
    assert outcomes == ["rolled_back", "not_an_accuracy_alert", "not_champion"]
    counts = _counts(http, catalog.ROLLBACK_DECISIONS.name)
    assert counts[("iris", "rolled_back")] == 1
    assert counts[("iris", "not_an_accuracy_alert")] == 1
    assert counts[(catalog.ROLLBACK_OTHER_MODEL, "not_champion")] == 1  # an unknown model
    assert len(counts) + len(_counts(http, catalog.ROLLBACK_REJECTED.name)) == (
        catalog.rollback_budget(1)
    )


def test_a_registry_error_asks_alertmanager_to_retry(
    client: tuple[TestClient, FakeRegistry, Service],
) -> None:
    http, registry, _ = client
    registry.fail = ConnectionError("down")
    answer = http.post(
        "/alerts", json=_notification(_alert()), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 503
    assert answer.json()["decisions"][0]["outcome"] == "registry_error"


def test_liveness_and_readiness_check_different_things(
    client: tuple[TestClient, FakeRegistry, Service],
) -> None:
    http, _, service = client
    assert http.get("/livez").status_code == 200
    assert http.get("/readyz").status_code == 200  # file:// registry: the token file counts
    service.settings.token_file.unlink()
    assert http.get("/readyz").status_code == 503
    assert http.get("/livez").status_code == 200
    answer = http.post("/alerts", json=_notification(_alert()))
    assert answer.status_code == 503
    assert "error" in answer.json()


def test_unknown_paths_and_methods_and_large_bodies_get_json_errors(
    client: tuple[TestClient, FakeRegistry, Service],
) -> None:
    http, _, _ = client
    assert http.get("/nope").json()["error"]["reason"] == "not_found"
    assert http.get("/alerts").status_code == 405
    big = json.dumps({"version": "4", "alerts": [], "pad": "x" * 2_000_000})
    answer = http.post("/alerts", content=big, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 413
    assert answer.json()["error"]["reason"] == "body_too_large"
