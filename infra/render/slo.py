"""SLOs to Prometheus rules, the way Sloth writes them.

For each SLO: the error ratio over every alert window
(`slo:sli_error:ratio_rate<window>`), over the whole period, the objective,
error budget, burn rates and budget remaining, and two multi-window
multi-burn-rate alerts, page and ticket, whose windows and factors come from
`infra/slo_windows/<period>.yaml`. Names and labels match Sloth's output, so
Sloth's Grafana dashboards read these rules unchanged.

Thresholds are computed in exact decimals and written out whole (0.0144, not
14.4 * 0.001), and window ratios are rounded to 1e-12, so a burn of exactly
14.4x does not cross 14.4x through floating-point noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra import conventions as cv
from infra.render._yaml import dump
from infra.render.rules import number
from infra.spec import SLO, PlatformSpec
from infra.units import duration_seconds, format_duration

WINDOWS_DIR = Path(__file__).resolve().parent.parent / "slo_windows"
BASE_WINDOW = "5m"  # the period ratio is the mean of this window's ratios, as in Sloth
# Window ratios are rounded to this, so a burn exactly at a threshold compares
# equal to it instead of one float ulp above (count - bucket subtractions add
# such noise). It is a millionth of the smallest budget anyone sets.
RATIO_RESOLUTION = "1e-12"


@dataclass(frozen=True)
class BurnWindow:
    severity: cv.Severity
    speed: str  # quick | slow
    budget_percent: Decimal
    long: str
    short: str
    factor: Decimal  # burn rate that spends budget_percent of the budget in `long`


@cache
def windows(period: str) -> tuple[BurnWindow, ...]:
    """The alert windows of an SLO period, from its data file."""
    data = yaml.safe_load((WINDOWS_DIR / f"{period}.yaml").read_text())
    period_s = duration_seconds(data["period"])
    out = []
    for severity in (cv.Severity.PAGE, cv.Severity.TICKET):
        for speed in ("quick", "slow"):
            w = data[severity.value][speed]
            percent = Decimal(str(w["errorBudgetPercent"]))
            long_s = duration_seconds(w["longWindow"])
            factor = percent / 100 * period_s / long_s
            out.append(
                BurnWindow(severity, speed, percent, w["longWindow"], w["shortWindow"], factor)
            )
    return tuple(out)


def _normalize(window: str) -> str:
    return format_duration(duration_seconds(window))


def slo_labels(slo: SLO) -> dict[str, str]:
    return {
        cv.SLO_ID_LABEL: f"{slo.service}-{slo.name}",
        cv.SLO_SERVICE_LABEL: slo.service,
        cv.SLO_NAME_LABEL: slo.name,
    }


def _selector(slo: SLO) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in slo_labels(slo).items())


def error_ratio_expr(slo: SLO, window: str) -> str:
    """The SLI's bad-event ratio over one window.

    Windows without traffic yield no sample rather than NaN (0/0), so a quiet
    night does not poison the period's mean ratio.
    """
    if slo.sli.events is not None:
        error = slo.sli.events.error_query.replace(cv.SLO_WINDOW_PLACEHOLDER, window)
        total = slo.sli.events.total_query.replace(cv.SLO_WINDOW_PLACEHOLDER, window)
        return f"(\n  {error}\n)\n/\n(\n  ({total}) > 0\n)"
    latency = slo.sli.latency
    assert latency is not None
    total = f"sum(rate({latency.metric}_count{{{latency.selector}}}[{window}]))"
    good = f'sum(rate({latency.metric}_bucket{{{latency.selector},le="{latency.threshold_seconds!r}"}}[{window}]))'
    return f"(\n  {total}\n  -\n  {good}\n)\n/\n(\n  {total} > 0\n)"


def _recordings(slo: SLO) -> list[dict[str, Any]]:
    labels = slo_labels(slo) | dict(slo.labels)
    names = sorted(
        {BASE_WINDOW}
        | {_normalize(w.long) for w in windows(slo.period)}
        | {_normalize(w.short) for w in windows(slo.period)},
        key=duration_seconds,
    )
    rules: list[dict[str, Any]] = [
        {
            "record": cv.SLO_ERROR_RATIO_RECORD.format(window=w),
            "expr": f"round(\n{error_ratio_expr(slo, w)},\n{RATIO_RESOLUTION}\n)",
            "labels": labels | {cv.SLO_WINDOW_LABEL: w},
        }
        for w in names
    ]
    base = cv.SLO_ERROR_RATIO_RECORD.format(window=BASE_WINDOW)
    rules.append(
        {
            "record": cv.SLO_ERROR_RATIO_RECORD.format(window=slo.period),
            "expr": f"sum_over_time({base}{{{_selector(slo)}}}[{slo.period}])\n"
            f"/ ignoring ({cv.SLO_WINDOW_LABEL})\n"
            f"count_over_time({base}{{{_selector(slo)}}}[{slo.period}])",
            "labels": labels | {cv.SLO_WINDOW_LABEL: slo.period},
        }
    )
    return rules


def _meta(slo: SLO) -> list[dict[str, Any]]:
    labels = slo_labels(slo) | dict(slo.labels)
    sel = _selector(slo)
    on = f"on ({cv.SLO_ID_LABEL}, {cv.SLO_SERVICE_LABEL}, {cv.SLO_NAME_LABEL}) group_left"
    objective = Decimal(str(slo.objective)) / 100
    current = cv.SLO_ERROR_RATIO_RECORD.format(window=BASE_WINDOW)
    period = cv.SLO_ERROR_RATIO_RECORD.format(window=slo.period)
    return [
        {
            "record": cv.SLO_OBJECTIVE_RECORD,
            "expr": f"vector({number(objective)})",
            "labels": labels,
        },
        {
            "record": cv.SLO_ERROR_BUDGET_RECORD,
            "expr": f"vector({number(slo.error_budget)})",
            "labels": labels,
        },
        {
            "record": cv.SLO_PERIOD_DAYS_RECORD,
            "expr": f"vector({int(duration_seconds(slo.period) / 86400)})",
            "labels": labels,
        },
        {
            "record": cv.SLO_CURRENT_BURN_RECORD,
            "expr": f"{current}{{{sel}}}\n/ {on}\n{cv.SLO_ERROR_BUDGET_RECORD}{{{sel}}}",
            "labels": labels,
        },
        {
            "record": cv.SLO_PERIOD_BURN_RECORD,
            "expr": f"{period}{{{sel}}}\n/ {on}\n{cv.SLO_ERROR_BUDGET_RECORD}{{{sel}}}",
            "labels": labels,
        },
        {
            "record": cv.SLO_BUDGET_REMAINING_RECORD,
            "expr": f"1 - {cv.SLO_PERIOD_BURN_RECORD}{{{sel}}}",
            "labels": labels,
        },
        {
            "record": cv.SLO_INFO_RECORD,
            "expr": "vector(1)",
            "labels": labels
            | {
                "sloth_mode": "mlops-platform",
                "sloth_objective": number(Decimal(str(slo.objective))),
            },
        },
    ]


def _burn_condition(slo: SLO, window: BurnWindow) -> str:
    threshold = number(window.factor * slo.error_budget)
    sel = _selector(slo)

    def over(w: str) -> str:
        record = cv.SLO_ERROR_RATIO_RECORD.format(window=_normalize(w))
        return f"max({record}{{{sel}}} > {threshold}) without ({cv.SLO_WINDOW_LABEL})"

    return f"(\n  {over(window.short)}\n  and\n  {over(window.long)}\n)"


def _alerts(spec: PlatformSpec, slo: SLO) -> list[dict[str, Any]]:
    rules = []
    page_name, ticket_name = slo.alert_names
    for severity, name in ((cv.Severity.PAGE, page_name), (cv.Severity.TICKET, ticket_name)):
        override = spec.alert_override(name)
        if override.disabled:
            continue
        pair = [w for w in windows(slo.period) if w.severity is severity]
        expr = "\nor\n".join(_burn_condition(slo, w) for w in pair)
        speeds = " or ".join(f"{number(w.factor)}x over {w.long}" for w in pair)
        rule: dict[str, Any] = {"alert": name, "expr": expr}
        if override.for_:
            rule["for"] = override.for_
        rule["labels"] = (
            slo_labels(slo)
            | dict(slo.labels)
            | {
                cv.SEVERITY_LABEL: (override.severity or severity).value,
                "sloth_severity": severity.value,
            }
        )
        rule["annotations"] = {
            "summary": f"SLO {slo.name} is burning its error budget too fast.",
            "description": f"{slo.description} Objective {number(Decimal(str(slo.objective)))}% over "
            f"{slo.period}; the error budget burns at {speeds} or more, confirmed by a short window.",
            "runbook_url": spec.runbook_url(name),
        }
        rules.append(rule)
    return rules


def slo_rules(spec: PlatformSpec) -> str:
    groups = []
    for slo in spec.slos:
        groups += [
            {
                "name": f"sloth-slo-sli-recordings-{slo.service}-{slo.name}",
                "rules": _recordings(slo),
            },
            {"name": f"sloth-slo-meta-recordings-{slo.service}-{slo.name}", "rules": _meta(slo)},
        ]
        alerts = _alerts(spec, slo)
        if alerts:
            groups.append({"name": f"sloth-slo-alerts-{slo.service}-{slo.name}", "rules": alerts})
    return dump(
        {"groups": groups},
        f"SLO rules of stack {spec.name}. Rendered by infra.render; do not edit.",
    )
