"""SLO burn-rate alerts, the way Sloth writes them: a page and a ticket per SLO.

Each is a multi-window multi-burn-rate alert: it fires when a long window and
its short window both burn the error budget faster than the factor that would
spend the window pair's share of the budget (`infra/slo_windows/<period>.yaml`).
Names and labels match Sloth's output, so Sloth's dashboards read them
unchanged. Thresholds are exact decimals written out whole (0.0144, not
14.4 * 0.001).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

from infra import conventions as cv
from infra.alerts.model import SLOTH_SEVERITY_LABEL, AlertRule, Burn, Kind
from infra.queries import number
from infra.spec import SLO, PlatformSpec
from infra.units import duration_seconds, format_duration

WINDOWS_DIR = Path(__file__).resolve().parent.parent / "slo_windows"


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
    for severity in cv.SLO_SEVERITIES:
        for speed in ("quick", "slow"):
            w = data[severity.value][speed]
            percent = Decimal(str(w["errorBudgetPercent"]))
            long_s = duration_seconds(w["longWindow"])
            factor = percent / 100 * period_s / long_s
            out.append(
                BurnWindow(severity, speed, percent, w["longWindow"], w["shortWindow"], factor)
            )
    return tuple(out)


def window_name(window: str) -> str:
    """A window as the recording rules name it: `60m` -> `1h`."""
    return format_duration(duration_seconds(window))


def slo_labels(slo: SLO) -> dict[str, str]:
    return {
        cv.SLO_ID_LABEL: f"{slo.service}-{slo.name}",
        cv.SLO_SERVICE_LABEL: slo.service,
        cv.SLO_NAME_LABEL: slo.name,
    }


def selector(slo: SLO) -> str:
    return ", ".join(f'{k}="{v}"' for k, v in slo_labels(slo).items())


def group(slo: SLO) -> str:
    return f"sloth-slo-alerts-{slo.service}-{slo.name}"


def burn_condition(slo: SLO, window: BurnWindow) -> str:
    threshold = number(window.factor * slo.error_budget)
    sel = selector(slo)

    def over(w: str) -> str:
        record = cv.SLO_ERROR_RATIO_RECORD.format(window=window_name(w))
        return f"max({record}{{{sel}}} > {threshold}) without ({cv.SLO_WINDOW_LABEL})"

    return f"(\n  {over(window.short)}\n  and\n  {over(window.long)}\n)"


def burn_alert(slo: SLO, severity: cv.Severity) -> AlertRule:
    pair = [w for w in windows(slo.period) if w.severity is severity]
    speeds = " or ".join(f"{number(w.factor)}x over {w.long}" for w in pair)
    promise = (
        f"{slo.description} Objective {number(Decimal(str(slo.objective)))}% over {slo.period}"
    )
    return AlertRule(
        slo.alert_names[cv.SLO_SEVERITIES.index(severity)],
        group(slo),
        "\nor\n".join(burn_condition(slo, w) for w in pair),
        None,
        severity,
        f"SLO {slo.name} is burning its error budget too fast.",
        f"{promise}; the error budget burns at {speeds} or more, confirmed by a short window.",
        kind=Kind.SLO,
        labels=slo_labels(slo)
        | dict(slo.labels)
        | {cv.SEVERITY_LABEL: severity.value, SLOTH_SEVERITY_LABEL: severity.value},
        burn=Burn(slo, severity, promise),
    )


def rules(spec: PlatformSpec) -> list[AlertRule]:
    return [burn_alert(slo, severity) for slo in spec.slos for severity in cv.SLO_SEVERITIES]
