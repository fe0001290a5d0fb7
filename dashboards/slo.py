"""SLOs: one row per objective of the stack, read from the Sloth-style recording rules.

The panels query only the rules `infra.render.slo` records (error ratios per
window, objective, budget remaining, burn rates), so the dashboard shows exactly
what the burn-rate alerts evaluate, and it is cheap whatever the period. The
burn-rate charts show every alert window of the SLO's period with the page and
ticket factors as threshold lines: a page fires when a long window and its
short window are both above their line.
"""

from __future__ import annotations

from decimal import Decimal

from grafana_foundation_sdk.builders import dashboard, stat, timeseries

from dashboards import panels as p
from infra import conventions as cv
from infra.alerts.slo import slo_labels
from infra.queries import number
from infra.render.slo import BASE_WINDOW
from infra.slo_windows import windows
from infra.spec import SLO, PlatformSpec
from infra.units import duration_seconds, format_duration

UID = "mlops-slo"
FOLDER = cv.FOLDER_UID["slo"]

_COLOR = {cv.Severity.PAGE: p.RED, cv.Severity.TICKET: p.ORANGE}


def selector(slo: SLO) -> str:
    labels = slo_labels(slo)
    return ",".join(f'{k}="{labels[k]}"' for k in (cv.SLO_ID_LABEL, cv.SLO_NAME_LABEL))


def error_ratio(slo: SLO, window: str) -> str:
    record = cv.SLO_ERROR_RATIO_RECORD.format(window=format_duration(duration_seconds(window)))
    return f"{record}{{{selector(slo)}}}"


def row_title(slo: SLO) -> str:
    return f"{slo.name}: {number(Decimal(str(slo.objective)))}% over {slo.period}"


def sli(slo: SLO) -> timeseries.Panel:
    sel = selector(slo)
    return (
        p.timeseries_panel(
            f"{slo.name}: SLI",
            f"{slo.description} Good-event ratio over {BASE_WINDOW} and over the whole "
            f"{slo.period} period, against the objective.",
            p.RATIO,
        )
        .max(1)
        .decimals(3)
        .with_target(p.prom(f"1 - {error_ratio(slo, BASE_WINDOW)}", f"SLI ({BASE_WINDOW})"))
        .with_target(
            p.prom(f"1 - {error_ratio(slo, slo.period)}", f"SLI ({slo.period})", ref_id="B")
        )
        .with_target(p.prom(f"{cv.SLO_OBJECTIVE_RECORD}{{{sel}}}", "objective", ref_id="C"))
    )


def budget_remaining(slo: SLO) -> stat.Panel:
    return (
        p.stat_panel(
            f"{slo.name}: error budget remaining",
            f"Share of the {slo.period} error budget not yet spent; below zero the SLO is broken.",
            p.RATIO,
            graph=True,
        )
        .span(p.HALF // 2)
        .height(p.HEIGHT)
        .thresholds(p.thresholds(p.RED, (0, p.ORANGE), (0.25, p.GREEN)))
        .with_target(p.prom(f"{cv.SLO_BUDGET_REMAINING_RECORD}{{{selector(slo)}}}", "remaining"))
    )


def current_burn(slo: SLO) -> stat.Panel:
    page = min(w.factor for w in windows(slo.window_profile) if w.severity is cv.Severity.PAGE)
    return (
        p.stat_panel(
            f"{slo.name}: current burn rate",
            f"How fast the budget burns now ({BASE_WINDOW} window); 1 spends exactly the "
            f"budget over {slo.period}.",
            p.NO_UNIT,
            graph=True,
        )
        .span(p.HALF // 2)
        .height(p.HEIGHT)
        .decimals(2)
        .thresholds(p.thresholds(p.GREEN, (1, p.ORANGE), (p.number(page), p.RED)))
        .with_target(p.prom(f"{cv.SLO_CURRENT_BURN_RECORD}{{{selector(slo)}}}", "burn rate"))
    )


def burn_rates(slo: SLO, severity: cv.Severity) -> timeseries.Panel:
    pairs = [w for w in windows(slo.window_profile) if w.severity is severity]
    spans = " and ".join(f"{w.long}/{w.short} above {number(w.factor)}x" for w in pairs)
    panel = p.timeseries_panel(
        f"{slo.name}: burn rate, {severity.value} windows",
        f"Burn rate over each {severity.value} alert window. The {severity.value} alert "
        f"fires when both windows of a pair burn faster than its factor: {spans}.",
        p.NO_UNIT,
    ).min(0)
    panel = p.threshold_lines(
        panel, p.GREEN, *sorted({(p.number(w.factor), _COLOR[severity]) for w in pairs})
    )
    budget = f"{cv.SLO_ERROR_BUDGET_RECORD}{{{selector(slo)}}}"
    names = sorted(
        {format_duration(duration_seconds(x)) for w in pairs for x in (w.short, w.long)},
        key=duration_seconds,
    )
    for i, window in enumerate(names):
        panel = panel.with_target(
            p.prom(
                f"{error_ratio(slo, window)}\n/ ignoring ({cv.SLO_WINDOW_LABEL})\n{budget}",
                window,
                ref_id=chr(ord("A") + i),
            )
        )
    return panel


def slo_row(board: dashboard.Dashboard, slo: SLO) -> dashboard.Dashboard:
    return (
        board.with_row(p.row(row_title(slo)))
        .with_panel(sli(slo))
        .with_panel(budget_remaining(slo))
        .with_panel(current_burn(slo))
        .with_panel(burn_rates(slo, cv.Severity.PAGE))
        .with_panel(burn_rates(slo, cv.Severity.TICKET))
    )


def slo_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    board = p.base(
        UID,
        "SLOs",
        "Every service level objective of the stack: SLI, error budget and burn rates.",
        ["slo"],
        time_from="now-7d",
        refresh="5m",
    )
    for slo in spec.slos:
        board = slo_row(board, slo)
    return board
