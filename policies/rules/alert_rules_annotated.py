"""Every alert rule says how bad it is, what happened, and where the runbook is.

Judged on the rules the stack deploys: the Prometheus rule files (ConfigMap
keys or files uploaded into the docker container) and Grafana-managed rule
groups. Every alert needs a `severity` label from the allowed set
(critical, warning, info, and page/ticket for SLO burn alerts), non-empty
`summary` and `description` annotations, and a `runbook_url` annotation that
is an http(s) URL, as the mixin conventions ask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings
from policies.rule_files import rule_files

NAME = "alert-rules-annotated"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
URL = re.compile(r"^https?://\S+$")


def judge_alert(where: str, name: str, rule: Mapping[str, Any], severities: list[str]) -> list[str]:
    labels = shapes.as_dict(rule.get("labels"))
    annotations = shapes.as_dict(rule.get("annotations"))
    missing = []
    severity = labels.get(cv.SEVERITY_LABEL)
    if severity not in severities:
        missing.append(
            f"a severity label from {', '.join(severities)} (it has {severity!r})"
            if severity is not None
            else "a severity label"
        )
    for key in (cv.SUMMARY_ANNOTATION, cv.DESCRIPTION_ANNOTATION):
        value = annotations.get(key)
        if not isinstance(value, str) or not value.strip():
            missing.append(f"a {key} annotation")
    runbook = annotations.get(cv.RUNBOOK_ANNOTATION)
    if not isinstance(runbook, str) or not URL.match(runbook):
        missing.append(f"a {cv.RUNBOOK_ANNOTATION} annotation that is an http(s) URL")
    if not missing:
        return []
    return [
        f"{where}, alert {name}: needs {', '.join(missing)}; the renderers add them from the "
        "alert catalog and runbookUrlPattern, so restore them there rather than editing the file."
    ]


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    severities = [str(s) for s in settings["severities"]]
    if resource_type == RULE_GROUP:
        where = f"Grafana rule group {props.get('name')}"
        return [
            problem
            for rule in shapes.as_list(props.get("rules"))
            if isinstance(rule, Mapping)
            for problem in judge_alert(where, str(rule.get("name")), rule, severities)
        ]
    return [
        problem
        for file in rule_files(resource_type, props)
        for alert in file.alerts()
        for problem in judge_alert(file.where, alert["alert"], alert, severities)
    ]


POLICY = ResourcePolicy(
    name=NAME,
    description="Every alert rule has a severity, a summary, a description and a runbook URL.",
    resource_types=frozenset({shapes.CONFIGMAP, shapes.DOCKER_CONTAINER, RULE_GROUP}),
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation="Give every alert severity, summary, description and runbook_url (the "
    "renderers inject runbook_url from runbookUrlPattern).",
    config={
        "severities": {
            "type": "array",
            "items": {"type": "string"},
            "default": [s.value for s in (*cv.PLATFORM_SEVERITIES, *cv.SLO_SEVERITIES)],
            "description": "Allowed values of an alert's severity label.",
        }
    },
    tags=["alerting"],
)
