"""SLOs to Prometheus rules, the way Sloth writes them.

For each SLO: the error ratio over every alert window
(`slo:sli_error:ratio_rate<window>`), over the whole period, the objective,
error budget, burn rates and budget remaining, and the SLO's page and ticket
burn-rate alerts as `infra.alerts` resolved them (windows and factors from
`infra/slo_windows/<profile>.yaml`). Names and labels match Sloth's output, so
Sloth's Grafana dashboards read these rules unchanged.

Window ratios are rounded to 1e-12, so a burn of exactly 14.4x does not cross
the 14.4x threshold through floating-point noise.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infra import alerts
from infra import conventions as cv
from infra.alerts import Kind
from infra.alerts.slo import group, selector, slo_labels, window_name
from infra.queries import number
from infra.render._yaml import dump
from infra.render.rules import prometheus_rule
from infra.slo_windows import windows
from infra.spec import SLO, PlatformSpec
from infra.units import duration_seconds

__all__ = ["BASE_WINDOW", "error_ratio_expr", "slo_labels", "slo_rules", "windows"]

BASE_WINDOW = "5m"  # the period ratio is the mean of this window's ratios, as in Sloth
# Window ratios are rounded to this, so a burn exactly at a threshold compares
# equal to it instead of one float ulp above (count - bucket subtractions add
# such noise). It is a millionth of the smallest budget anyone sets.
RATIO_RESOLUTION = "1e-12"


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
        | {window_name(w.long) for w in windows(slo.window_profile)}
        | {window_name(w.short) for w in windows(slo.window_profile)},
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
            "expr": f"sum_over_time({base}{{{selector(slo)}}}[{slo.period}])\n"
            f"/ ignoring ({cv.SLO_WINDOW_LABEL})\n"
            f"count_over_time({base}{{{selector(slo)}}}[{slo.period}])",
            "labels": labels | {cv.SLO_WINDOW_LABEL: slo.period},
        }
    )
    return rules


def _meta(slo: SLO) -> list[dict[str, Any]]:
    labels = slo_labels(slo) | dict(slo.labels)
    sel = selector(slo)
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


def _alerts(spec: PlatformSpec) -> dict[str, list[dict[str, Any]]]:
    """The enabled burn-rate alerts of every SLO, by rule group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts.resolve(spec):
        if alert.kind is Kind.SLO and alert.enabled:
            groups.setdefault(alert.group, []).append(prometheus_rule(alert))
    return groups


def slo_rules(spec: PlatformSpec) -> str:
    burns = _alerts(spec)
    groups = []
    for slo in spec.slos:
        groups += [
            {
                "name": f"sloth-slo-sli-recordings-{slo.service}-{slo.name}",
                "rules": _recordings(slo),
            },
            {"name": f"sloth-slo-meta-recordings-{slo.service}-{slo.name}", "rules": _meta(slo)},
        ]
        if group(slo) in burns:
            groups.append({"name": group(slo), "rules": burns[group(slo)]})
    return dump(
        {"groups": groups},
        f"SLO rules of stack {spec.name}. Rendered by infra.render; do not edit.",
    )
