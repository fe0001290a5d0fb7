"""Prometheus runs as a pair whose alerts Alertmanager takes as one.

Each Prometheus workload of the stack (a StatefulSet or Deployment labelled
app.kubernetes.io/name=prometheus) must run at least `minReplicas` replicas
(1 by default; 2 in prod). Where it runs more than one, every external label
whose value differs per replica (an environment variable reference such as
`${POD_NAME}`, expanded by each replica) must be dropped from alerts by a
`labeldrop` in `alerting.alert_relabel_configs` of its prometheus.yml: else
the replicas' alerts differ by that label, Alertmanager cannot deduplicate
them, and every notification is sent twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Finding, Settings, StackPolicy, StackResource

NAME = "prometheus-highly-available"
PROMETHEUS = cv.Component.PROMETHEUS.value


def _configs(resources: Sequence[StackResource]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every prometheus.yml of the stack (a document with scrape_configs), with where it is."""
    found = []
    for r in resources:
        if r.type != shapes.CONFIGMAP:
            continue
        for file in shapes.config_files(r.type, r.props):
            doc = file.document() if file.name.endswith((".yml", ".yaml")) else None
            if isinstance(doc, Mapping) and "scrape_configs" in doc:
                found.append((file.where, doc))
    return found


def undropped_replica_labels(doc: Mapping[str, Any]) -> list[str]:
    """External labels each replica sets to its own value, that still reach its alerts."""
    external = shapes.as_dict(shapes.dig(doc, "global", "external_labels"))
    varying = [k for k, v in external.items() if isinstance(v, str) and "$" in v]
    drops = [
        str(rule.get("regex", ""))
        for rule in shapes.as_list(shapes.dig(doc, "alerting", "alert_relabel_configs"))
        if isinstance(rule, Mapping) and rule.get("action") == "labeldrop"
    ]
    return [k for k in varying if not any(re.fullmatch(d, k) for d in drops)]


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    minimum = int(settings["minReplicas"])
    findings = []
    workloads = [
        r for r in resources
        if r.type in shapes.K8S_REPLICATED and shapes.component(r.type, r.props) == PROMETHEUS
    ]  # fmt: skip
    for w in workloads:
        count, subject = shapes.replicas(w.props), shapes.describe(w.type, w.props)
        if count < minimum:
            findings.append(
                Finding(
                    f"{subject} runs {count} Prometheus replica(s), fewer than {minimum}: while "
                    "it restarts or its node is lost, nothing scrapes or alerts; set "
                    f"prometheus.replicas to {minimum} or more in the stack's config.",
                    w.urn,
                )
            )
        if count < 2:
            continue
        for where, doc in _configs(resources):
            for label in undropped_replica_labels(doc):
                findings.append(
                    Finding(
                        f"{subject} runs {count} replicas, but {where} keeps the per-replica "
                        f"external label {label!r} on alerts: the replicas' alerts differ and "
                        "Alertmanager sends each twice; drop it with a labeldrop in "
                        "alerting.alert_relabel_configs.",
                        w.urn,
                    )
                )
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Prometheus runs enough replicas, and a pair's alerts carry no per-replica label.",
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    remediation="Set prometheus.replicas (2 in prod); the program labels each replica and "
    "drops that label from alerts.",
    config={
        "minReplicas": {
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "Fewest Prometheus replicas the stack may run.",
        }
    },
    tags=["reliability", "alerting"],
)
