"""Platform alerts as a Prometheus rule file: the serving API, the model's life, the monitoring
stack itself.

The alerts, overrides applied, come from `infra.alerts`; this module only
writes them the way Prometheus reads them, one rule group per alert group,
each alert with `severity`, `summary`, `description` and `runbook_url`, as the
Prometheus mixins do.
"""

from __future__ import annotations

from typing import Any

from infra import alerts
from infra import conventions as cv
from infra import queries as q
from infra.alerts import Kind, ResolvedAlert
from infra.queries import number
from infra.render._yaml import dump
from infra.spec import PlatformSpec

# `number` is imported from here by code written before infra.queries held it.
__all__ = ["number", "platform_groups", "platform_rules", "prometheus_rule", "recordings"]


def prometheus_rule(alert: ResolvedAlert) -> dict[str, Any]:
    """One alerting rule as Prometheus reads it."""
    rule: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
    if alert.for_:
        rule["for"] = alert.for_
    rule["labels"] = dict(alert.labels)
    rule["annotations"] = alert.annotations
    return rule


def recordings(spec: PlatformSpec) -> dict[str, Any]:
    """Recording rules the serving alerts and dashboards read instead of the raw series they
    sum, over the alerts' window (the mixins' way of keeping their cost flat as targets grow).
    The group comes first: promtool, like Prometheus at each interval, evaluates it before the
    alerts that read it."""
    window = spec.alerts.serving_window
    return {
        "name": cv.SERVING_RECORDINGS_GROUP,
        "rules": [
            {"record": q.requests_recorded(window), "expr": q.requests_by_code(window)},
            {"record": q.latency_buckets_recorded(window), "expr": q.latency_buckets(window)},
        ],
    }


def platform_groups(spec: PlatformSpec) -> list[dict[str, Any]]:
    """The rule groups of the platform rule file: the recordings, then one group per alert
    group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts.resolve(spec):
        if alert.kind is Kind.PLATFORM and alert.enabled:
            groups.setdefault(alert.group, []).append(prometheus_rule(alert))
    return [recordings(spec)] + [{"name": name, "rules": rules} for name, rules in groups.items()]


def platform_rules(spec: PlatformSpec) -> str:
    document = {"groups": platform_groups(spec)}
    return dump(
        document, f"Platform alerts of stack {spec.name}. Rendered by infra.render; do not edit."
    )
