"""Every alert the platform raises, resolved for one stack, in one list.

Platform rules, SLO burn-rate alerts and Grafana-managed log alerts are
defined by group in their own modules (`serving`, `training`, `platform`,
`saturation`, `slo`, `logs`) and resolved by `model.resolve_alert`, the one
place overrides, severities and runbook links are applied. Every consumer (the rule file
renderers, Grafana's rule groups and SLOs, the dashboards, the tests) reads
`resolve(spec)`, so they cannot disagree about an alert. Nothing here imports
Pulumi.
"""

from __future__ import annotations

from infra.alerts import logs, model, platform, saturation, serving, slo, training
from infra.alerts.model import AlertRule, Kind, ResolvedAlert
from infra.spec import PlatformSpec

__all__ = ["AlertRule", "Kind", "ResolvedAlert", "by_name", "definitions", "resolve"]

# The order of the groups in the platform rule file.
PLATFORM_GROUPS = (
    platform.GROUP,
    serving.GROUP,
    saturation.GPU_GROUP,
    training.GROUP,
    saturation.GROUP,
    saturation.NODE_GROUP,
    platform.PUSHGATEWAY_GROUP,
    platform.PROMETHEUS_GROUP,
    platform.ALERTMANAGER_GROUP,
)


def definitions(spec: PlatformSpec) -> list[AlertRule]:
    """Every alert as defined, before overrides: platform rules by group, SLO, logs.

    Saturation alerts, and the latency alert's word on CPU throttling, depend on the
    collectors the stack runs, not only on its thresholds."""
    thresholds = spec.alerts
    platform_rules = [
        *platform.rules(thresholds),
        *serving.rules(thresholds, spec.containers_scraped),
        *training.rules(thresholds),
        *saturation.rules(spec),
    ]
    platform_rules.sort(key=lambda rule: PLATFORM_GROUPS.index(rule.group))
    return [*platform_rules, *slo.rules(spec), *logs.rules()]


def resolve(spec: PlatformSpec) -> list[ResolvedAlert]:
    """Every alert of the stack, disabled ones included (`enabled` says which)."""
    return [model.resolve_alert(spec, rule) for rule in definitions(spec)]


def by_name(spec: PlatformSpec) -> dict[str, ResolvedAlert]:
    return {alert.name: alert for alert in resolve(spec)}
