"""Replicas of one workload run on different nodes.

Three Alertmanagers on one node are one node's loss from silence. Each
Deployment or StatefulSet with more than one replica must keep its replicas
apart by node: a topology spread constraint on `kubernetes.io/hostname` with
`whenUnsatisfiable: DoNotSchedule` selecting its own pods, or a required pod
anti-affinity on that key. `ScheduleAnyway` and preferred anti-affinity are
hints the scheduler drops when a node is busy, so they do not count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown
from policies.rules.disruption_budgets import selects

NAME = "replicas-spread"
HOSTNAME = "kubernetes.io/hostname"


def _by_node(term: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a spread constraint or anti-affinity term keeps these pods apart by node."""
    return (
        isinstance(term, Mapping)
        and term.get("topologyKey") == HOSTNAME
        and selects(term.get("labelSelector"), labels)
    )


def spread_by_node(pod: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """A hard spread (DoNotSchedule) or a required anti-affinity, by node, over its own pods."""
    spread = shapes.as_list(pod.get("topologySpreadConstraints"))
    anti = shapes.as_list(
        shapes.dig(
            pod, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"
        )
    )
    hard = [c for c in spread if shapes.dig(c, "whenUnsatisfiable") == "DoNotSchedule"]
    return any(_by_node(term, labels) for term in [*hard, *anti])


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    pod = shapes.pod_spec(resource_type, props)
    count = shapes.replicas(props)
    if count < 2 or is_unknown(pod.get("topologySpreadConstraints")):
        return []
    if spread_by_node(pod, shapes.pod_template_labels(resource_type, props)):
        return []
    return [
        f"{shapes.describe(resource_type, props)} runs {count} replicas that may share a node, "
        "so one node's loss takes them all; add a topologySpreadConstraint on "
        f"{HOSTNAME} with whenUnsatisfiable: DoNotSchedule selecting its pods (or a required "
        "pod anti-affinity)."
    ]


POLICY = ResourcePolicy(
    name=NAME,
    description="The replicas of every multi-replica workload run on different nodes.",
    resource_types=shapes.K8S_REPLICATED,
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    remediation="Spread the replicas by kubernetes.io/hostname with DoNotSchedule (the program "
    "does for every workload with more than one replica).",
    tags=["reliability"],
)
