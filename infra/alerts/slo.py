"""SLO burn-rate alerts, the way Sloth writes them: a page and a ticket per SLO.

Each is a multi-window multi-burn-rate alert: it fires when a long window and
its short window both burn the error budget faster than the factor that would
spend the window pair's share of the budget (the SLO's window profile,
`infra/slo_windows/<profile>.yaml`).
Names and labels match Sloth's output, so Sloth's dashboards read them
unchanged. Thresholds are exact decimals written out whole (0.0144, not
14.4 * 0.001).
"""

from __future__ import annotations

from decimal import Decimal

from infra import conventions as cv
from infra.alerts.model import SLOTH_SEVERITY_LABEL, AlertRule, Burn, Kind
from infra.queries import number
from infra.slo_windows import BurnWindow, windows
from infra.spec import SLO, PlatformSpec
from infra.units import duration_seconds, format_duration


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
    threshold = number(window.threshold(slo.error_budget))
    sel = selector(slo)

    def over(w: str) -> str:
        record = cv.SLO_ERROR_RATIO_RECORD.format(window=window_name(w))
        return f"max({record}{{{sel}}} > {threshold}) without ({cv.SLO_WINDOW_LABEL})"

    return f"(\n  {over(window.short)}\n  and\n  {over(window.long)}\n)"


def burn_alert(slo: SLO, severity: cv.Severity) -> AlertRule:
    pair = [w for w in windows(slo.window_profile) if w.severity is severity]
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
        runbook=slo.runbook_names[cv.SLO_SEVERITIES.index(severity)],
    )


def rules(spec: PlatformSpec) -> list[AlertRule]:
    return [burn_alert(slo, severity) for slo in spec.slos for severity in cv.SLO_SEVERITIES]
