"""Every multi-replica workload has a PodDisruptionBudget that still lets nodes drain.

Without a budget, a node drain or a cluster upgrade may evict every replica
at once; with `maxUnavailable: 0` (or `minAvailable` equal to the replica
count) the drain never finishes. Each Deployment or StatefulSet with more
than one replica must be selected by a PodDisruptionBudget in its namespace
that allows at least one voluntary disruption.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Finding, Settings, StackPolicy, StackResource, is_unknown

NAME = "disruption-budgets"


def selects(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions) selects pods with `labels`.
    A missing selector selects nothing; an empty one, every pod of the namespace."""
    if not isinstance(selector, Mapping):
        return False
    match = shapes.as_dict(selector.get("matchLabels"))
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expression in shapes.as_list(selector.get("matchExpressions")):
        key, op = shapes.dig(expression, "key"), shapes.dig(expression, "operator")
        values = set(shapes.as_list(shapes.dig(expression, "values")))
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels.get(key) in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _blocks(spec: Mapping[str, Any], replicas: int) -> bool:
    """Whether the budget allows no voluntary disruption for this many replicas."""
    unavailable, available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if unavailable is not None and not is_unknown(unavailable):
        return str(unavailable).strip() in {"0", "0.0", "0%"}
    if isinstance(available, str) and available.endswith("%"):
        return available.strip() == "100%"
    return shapes.as_int(available, 0) >= replicas


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    budgets = [r for r in resources if r.type == shapes.PDB]
    findings = []
    for w in resources:
        if w.type not in shapes.K8S_REPLICATED:
            continue
        count = shapes.replicas(w.props)
        if count <= 1:
            continue
        labels = shapes.pod_template_labels(w.type, w.props)
        subject = shapes.describe(w.type, w.props)
        covering = [
            b for b in budgets
            if shapes.namespace(b.props) == shapes.namespace(w.props)
            and selects(shapes.dig(b.props, "spec", "selector"), labels)
        ]  # fmt: skip
        if not covering:
            selector = shapes.as_dict(shapes.dig(w.props, "spec", "selector", "matchLabels"))
            pairs = ", ".join(f"{k}={v}" for k, v in sorted((selector or labels).items()))
            findings.append(
                Finding(
                    f"{subject} runs {count} replicas but no PodDisruptionBudget selects its "
                    "pods, so a node drain may evict them all at once; add a "
                    f"PodDisruptionBudget with maxUnavailable: 1 selecting {pairs}.",
                    w.urn,
                )
            )
            continue
        for budget in covering:
            if _blocks(shapes.as_dict(shapes.dig(budget.props, "spec")), count):
                findings.append(
                    Finding(
                        f"{shapes.describe(budget.type, budget.props)} allows no voluntary "
                        f"disruption of the {count} replicas of {subject}, so node drains hang; "
                        "use maxUnavailable: 1.",
                        budget.urn,
                    )
                )
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Every multi-replica workload has a PodDisruptionBudget that allows one "
    "disruption at a time.",
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation="Add a PodDisruptionBudget (maxUnavailable: 1) selecting the workload's pods.",
    tags=["reliability", "kubernetes"],
)
