"""Every SLO the stack records both pages and opens tickets.

A Sloth-style SLO renders recording rules labelled `sloth_slo` and two
multi-window burn-rate alerts: one with severity `page` (fast burn) and one
with severity `ticket` (slow burn). Judged on the deployed rule files of a
resource (ConfigMap keys or uploaded files): every SLO that has recording
rules must have an alert of every required severity (page and ticket by
default). Disabling one in alertOverrides, or overriding its severity to
the other, leaves a burn nobody hears about.
"""

from __future__ import annotations

from collections import defaultdict

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings
from policies.rule_files import rule_files

NAME = "slo-alerts-complete"


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    required = [str(s) for s in settings["requiredSeverities"]]
    slos: set[str] = set()
    severities: dict[str, set[str]] = defaultdict(set)
    for file in rule_files(resource_type, props):
        for record in file.records():
            slo = shapes.as_dict(record.get("labels")).get(cv.SLO_NAME_LABEL)
            if isinstance(slo, str) and str(record["record"]).startswith("slo:"):
                slos.add(slo)
        for alert in file.alerts():
            labels = shapes.as_dict(alert.get("labels"))
            slo = labels.get(cv.SLO_NAME_LABEL)
            if isinstance(slo, str):
                severities[slo].add(str(labels.get(cv.SEVERITY_LABEL)))
    problems = []
    for slo in sorted(slos):
        missing = [s for s in required if s not in severities[slo]]
        if missing:
            page, ticket = cv.slo_alert_names(slo)
            problems.append(
                f"{shapes.describe(resource_type, props)}: SLO {slo} has no "
                f"{' and no '.join(missing)} alert, so that burn rate notifies nobody; keep "
                f"{page} (severity page) and {ticket} (severity ticket) enabled with their own "
                "severities in alertOverrides."
            )
    return problems


POLICY = ResourcePolicy(
    name=NAME,
    description="Every SLO has both a page and a ticket burn-rate alert.",
    resource_types=frozenset({shapes.CONFIGMAP, shapes.DOCKER_CONTAINER}),
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    remediation="Do not disable an SLO's page or ticket alert, nor give one the other's "
    "severity, in alertOverrides.",
    config={
        "requiredSeverities": {
            "type": "array",
            "items": {"type": "string"},
            "default": [s.value for s in cv.SLO_SEVERITIES],
            "description": "Severities every SLO needs an alert of.",
        }
    },
    tags=["alerting", "slo"],
)
