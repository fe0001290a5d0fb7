"""One override of one alert of each kind reaches every place that alert is rendered.

A platform alert (Prometheus rule file, and the dashboard that draws its
threshold), an SLO burn alert (Prometheus SLO rule file, and the Grafana SLO
app's alerting) and the log alert (Grafana's rule group): `for`, severity and
disabling each show up in all of them, because every renderer reads the alerts
`infra.alerts.model.resolve_alert` resolved, and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import yaml

import dashboards
from dashboards import platform as platform_board
from dashboards import serving as serving_board
from infra import alerts, queries
from infra import conventions as cv
from infra.alerts import model
from infra.components.grafana import log_alert_rules, slo_resource_args
from infra.config import ROOT, StackConfig, from_stack_file, load_spec
from infra.render.rules import platform_rules
from infra.render.slo import slo_rules
from infra.spec import PlatformSpec

PLATFORM = cv.Alert.SERVING_HIGH_ERROR_RATIO.value
PAGE = "ServingAvailabilityErrorBudgetBurnPage"
LOG = cv.LogAlert.SERVING_ERROR_LOG_SPIKE.value


def _spec(**values: Any) -> PlatformSpec:
    base = from_stack_file("dev", ROOT)
    return load_spec(
        StackConfig(
            "dev",
            {**base.values, **{f"mlops:{k}": v for k, v in values.items()}},
            base.secret_keys,
        )
    )


def _rules(text: str) -> dict[str, dict[str, Any]]:
    """Alerting rules of a rendered rule file by name, each with its group's name."""
    return {
        rule["alert"]: rule | {"group": group["name"]}
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def _pairs(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {pair["key"]: pair["value"] for pair in pairs}


def _panel(spec: PlatformSpec, uid: str, title: str) -> dict[str, Any]:
    board = json.loads(dashboards.to_json(dashboards.build_all(spec)[uid]))
    panels = [p for top in board["panels"] for p in (top, *top.get("panels", []))]
    return next(p for p in panels if p["title"] == title)


def _steps(panel: dict[str, Any]) -> list[Any]:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


# A platform alert


def test_a_platform_alert_defaults_to_its_definition() -> None:
    rule = _rules(platform_rules(_spec()))[PLATFORM]
    assert rule["group"] == "mlops-serving"
    assert rule["for"] == "5m"
    assert rule["labels"] == {"severity": "critical"}


def test_a_platform_alerts_for_and_severity_reach_its_rule_file() -> None:
    spec = _spec(alertOverrides={PLATFORM: {"for": "7m", "severity": "warning"}})
    resolved = alerts.by_name(spec)[PLATFORM]
    assert (resolved.for_, resolved.severity, resolved.enabled) == (
        "7m",
        cv.Severity.WARNING,
        True,
    )
    rule = _rules(platform_rules(spec))[PLATFORM]
    assert rule["for"] == "7m"
    assert rule["labels"] == {"severity": "warning"}
    assert rule["annotations"]["runbook_url"] == spec.runbook_url(PLATFORM)
    assert rule["annotations"] == resolved.annotations


def test_a_platform_alerts_threshold_is_the_one_its_rule_and_its_panel_use() -> None:
    spec = _spec(alerts={"servingErrorRatio": 0.07})
    rule = _rules(platform_rules(spec))[PLATFORM]
    assert rule["expr"] == f"{queries.error_ratio('5m')}\n> 0.07"
    panel = _panel(spec, serving_board.UID, "Error ratio (5xx)")
    assert _steps(panel) == [None, 0.07]
    assert panel["targets"][0]["expr"] == queries.error_ratio("5m")


def test_a_disabled_platform_alert_leaves_the_rule_file_and_keeps_its_line() -> None:
    spec = _spec(alertOverrides={PLATFORM: {"disabled": True}})
    assert alerts.by_name(spec)[PLATFORM].enabled is False
    rules = _rules(platform_rules(spec))
    assert PLATFORM not in rules
    assert cv.Alert.SERVING_HIGH_LATENCY_P95.value in rules
    assert _steps(_panel(spec, serving_board.UID, "Error ratio (5xx)")) == [None, 0.05]


def test_a_disabled_watchdog_leaves_the_rule_file_and_the_platform_dashboard() -> None:
    name = cv.Alert.WATCHDOG.value
    for spec, present in (
        (_spec(), True),
        (_spec(alertOverrides={name: {"disabled": True}}), False),
    ):
        assert (name in _rules(platform_rules(spec))) is present
        board = json.loads(dashboards.to_json(dashboards.build_all(spec)[platform_board.UID]))
        titles = {p["title"] for p in board["panels"]}
        assert ("Watchdog" in titles) is present


# An SLO burn alert


def test_an_slo_alerts_for_and_severity_reach_its_rule_file_and_the_grafana_slo() -> None:
    spec = _spec(alertOverrides={PAGE: {"for": "2m", "severity": "ticket"}})
    rule = _rules(slo_rules(spec))[PAGE]
    assert rule["group"] == "sloth-slo-alerts-serving-serving-availability"
    assert rule["for"] == "2m"
    assert rule["labels"]["severity"] == "ticket"
    assert rule["labels"]["sloth_severity"] == "page"
    assert rule["annotations"]["runbook_url"] == spec.runbook_url(PAGE)
    fastburn = slo_resource_args(spec, spec.slos[0])["alerting"]["fastburn"]
    assert _pairs(fastburn["labels"]) == {"severity": "ticket", "sloth_severity": "page"}
    annotations = _pairs(fastburn["annotations"])
    assert annotations["name"] == PAGE
    assert annotations["summary"] == rule["annotations"]["summary"]
    assert annotations["runbook_url"] == spec.runbook_url(PAGE)


def test_an_slo_alert_keeps_no_for_and_its_own_severity_by_default() -> None:
    spec = _spec()
    rule = _rules(slo_rules(spec))[PAGE]
    assert "for" not in rule
    assert rule["labels"]["severity"] == "page"
    fastburn = slo_resource_args(spec, spec.slos[0])["alerting"]["fastburn"]
    assert _pairs(fastburn["labels"])["severity"] == "page"


def test_a_disabled_slo_alert_leaves_its_rule_file_and_the_grafana_slo() -> None:
    spec = _spec(alertOverrides={PAGE: {"disabled": True}})
    rules = _rules(slo_rules(spec))
    assert PAGE not in rules
    assert "ServingAvailabilityErrorBudgetBurnTicket" in rules
    alerting = slo_resource_args(spec, spec.slos[0])["alerting"]
    assert "fastburn" not in alerting
    assert _pairs(alerting["slowburn"]["labels"])["severity"] == "ticket"


# The log alert


def test_the_log_alerts_for_and_severity_reach_its_grafana_rule() -> None:
    assert [(r["for_"], r["labels"]) for r in log_alert_rules(_spec())] == [
        ("2m", {"severity": "warning"})
    ]
    spec = _spec(alertOverrides={LOG: {"for": "9m", "severity": "critical"}})
    (rule,) = log_alert_rules(spec)
    assert rule["name"] == LOG
    assert rule["for_"] == "9m"
    assert rule["labels"] == {"severity": "critical"}
    assert rule["annotations"]["runbook_url"] == spec.runbook_url(LOG)
    threshold = json.loads(rule["datas"][2]["model"])["conditions"][0]["evaluator"]
    assert threshold == {"type": "gt", "params": [10]}


def test_a_disabled_log_alert_leaves_grafana() -> None:
    assert log_alert_rules(_spec(alertOverrides={LOG: {"disabled": True}})) == []


# One code path


def _rendered_summaries(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    """(alert, summary) of every alert every renderer writes for a stack."""
    for text in (platform_rules(spec), slo_rules(spec)):
        for name, rule in _rules(text).items():
            yield name, rule["annotations"]["summary"]
    for rule in log_alert_rules(spec):
        yield rule["name"], rule["annotations"]["summary"]
    for slo in spec.slos:
        for burn in slo_resource_args(spec, slo)["alerting"].values():
            if isinstance(burn, dict):
                annotations = _pairs(burn["annotations"])
                yield annotations["name"], annotations["summary"]


def test_every_renderer_takes_its_alerts_from_resolve_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = model.resolve_alert
    seen: list[str] = []

    def marked(spec: PlatformSpec, rule: model.AlertRule) -> model.ResolvedAlert:
        seen.append(rule.name)
        resolved = original(spec, rule)
        return replace(resolved, summary=f"{resolved.summary} [resolved]")

    monkeypatch.setattr(model, "resolve_alert", marked)
    spec = _spec()
    rendered = list(_rendered_summaries(spec))
    names = {name for name, _ in rendered}
    assert names == {a.name for a in alerts.resolve(spec)}
    assert {PLATFORM, PAGE, LOG} <= names
    assert all(summary.endswith(" [resolved]") for _, summary in rendered), rendered
    assert set(seen) == names
