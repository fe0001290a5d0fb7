"""The alert model: an alert as its group defines it, the same alert resolved for a stack, and
the one function that resolves it.

A stack changes its alerts through `alertOverrides` (disable, `for`, severity)
and links each to a runbook through `runbookUrlPattern`. Both are applied in
`resolve_alert` and nowhere else, so the Prometheus rule files, the Grafana
rule groups and SLO resources, the dashboards and the tests all see the same
alert. Nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from infra import conventions as cv
from infra.spec import SLO, PlatformSpec
from infra.units import duration_seconds

SLOTH_SEVERITY_LABEL = "sloth_severity"


class Kind(StrEnum):
    PLATFORM = "platform"  # a Prometheus rule in the platform rule file
    SLO = "slo"  # a Sloth-style burn-rate rule (and the Grafana SLO app's alert on cloud stacks)
    LOG = "log"  # a Grafana-managed rule on Loki


@dataclass(frozen=True)
class Burn:
    """What an SLO burn-rate alert is about."""

    slo: SLO
    severity: cv.Severity  # page or ticket, as defined: Sloth's `sloth_severity`
    promise: str  # the SLO and its objective, in one sentence without a full stop


@dataclass(frozen=True)
class AlertRule:
    """An alert as its group defines it, before the stack's overrides."""

    name: str
    group: str  # the rule group it is evaluated in
    expr: str
    for_: str | None
    severity: cv.Severity
    summary: str
    description: str
    kind: Kind = Kind.PLATFORM
    labels: Mapping[str, str] = field(default_factory=dict)  # besides severity
    threshold: Decimal | float | None = None  # the value it fires at, as a dashboard draws it
    window: str | None = None  # the range a log alert counts over
    burn: Burn | None = None
    runbook: str | None = None  # the runbook it links, when not the one named after it


@dataclass(frozen=True)
class ResolvedAlert:
    """An alert as a stack raises it: overrides applied, runbook linked."""

    name: str
    group: str
    expr: str
    for_: str | None
    severity: cv.Severity
    summary: str
    description: str
    kind: Kind
    labels: Mapping[str, str]  # severity included
    threshold: Decimal | float | None
    window: str | None
    burn: Burn | None
    runbook: str | None
    runbook_url: str
    enabled: bool

    @property
    def annotations(self) -> dict[str, str]:
        return {
            cv.SUMMARY_ANNOTATION: self.summary,
            cv.DESCRIPTION_ANNOTATION: self.description,
            cv.RUNBOOK_ANNOTATION: self.runbook_url,
        }


def resolve_alert(spec: PlatformSpec, rule: AlertRule) -> ResolvedAlert:
    """The one place a stack's alertOverrides and runbook links are applied."""
    override = spec.alert_override(rule.name)
    severity = override.severity or rule.severity
    defined: dict[str, Any] = {f.name: getattr(rule, f.name) for f in fields(rule)}
    return ResolvedAlert(
        **defined
        | {
            "for_": override.for_ or rule.for_,
            "severity": severity,
            # A severity the definition places keeps its place; others go last.
            "labels": {**rule.labels, cv.SEVERITY_LABEL: severity.value},
        },
        runbook_url=spec.runbook_url(rule.runbook or rule.name),
        enabled=not override.disabled,
    )


def spoken(duration: str) -> str:
    """`5m` -> `5 minutes`, `1h` -> `1 hour`, `90s` -> `90 seconds`: for alert descriptions."""
    seconds = int(duration_seconds(duration))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
