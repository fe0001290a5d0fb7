"""Every namespace the stack declares is fenced: a default deny, and an allow policy per workload.

Without NetworkPolicies any pod of the cluster reaches every platform port
(Alertmanager's silences API, Prometheus' admin endpoints, the Pushgateway's
delete), and a compromised platform pod reaches anything. So a namespace the
stack declares that holds its Pod controllers must have a default deny (a
NetworkPolicy selecting every pod, Ingress and Egress, with no rule), and each
Pod controller's pods must be selected by a NetworkPolicy that allows them
something (their flows: `infra.network`), or the default deny cuts them off.
Namespaces the stack does not declare are someone else's to fence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Finding, Settings, StackPolicy, StackResource, is_unknown
from policies.rules.disruption_budgets import selects

NAME = "network-policies"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
BOTH = {"Ingress", "Egress"}


def _is_default_deny(spec: Mapping[str, Any]) -> bool:
    selector = spec.get("podSelector")
    return (
        isinstance(selector, Mapping)
        and not selector.get("matchLabels")
        and not selector.get("matchExpressions")
        and set(shapes.as_list(spec.get("policyTypes"))) >= BOTH
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _allows_something(spec: Mapping[str, Any]) -> bool:
    return bool(shapes.as_list(spec.get("ingress")) or shapes.as_list(spec.get("egress")))


def _declared(resources: Sequence[StackResource]) -> dict[str, StackResource]:
    out = {}
    for r in resources:
        name = shapes.dig(r.props, "metadata", "name")
        if r.type == NAMESPACE and isinstance(name, str):
            out[name] = r
    return out


def _policies(resources: Sequence[StackResource]) -> dict[str, list[Any]]:
    """Each namespace's NetworkPolicy specs (UNKNOWN for one not known during preview)."""
    out: dict[str, list[Any]] = {}
    for r in resources:
        namespace = shapes.namespace(r.props)
        if r.type == NETWORK_POLICY and isinstance(namespace, str):
            spec = shapes.dig(r.props, "spec")
            out.setdefault(namespace, []).append(spec if is_unknown(spec) else shapes.as_dict(spec))
    return out


def _unfenced(namespace: str, where: StackResource) -> Finding:
    return Finding(
        f"namespace {namespace} holds the platform's pods but no default-deny NetworkPolicy, "
        "so any pod of the cluster reaches them and they reach anything; add a NetworkPolicy "
        "with podSelector: {} and policyTypes [Ingress, Egress] and no rules.",
        where.urn,
    )


def _uncovered(w: StackResource, labels: Mapping[str, Any]) -> Finding:
    pairs = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return Finding(
        f"{shapes.describe(w.type, w.props)}: no NetworkPolicy selects its pods and allows them "
        "anything, so the default deny cuts them off from their callers and dependencies; add "
        f"a NetworkPolicy selecting {pairs} that allows exactly their flows.",
        w.urn,
    )


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    declared = _declared(resources)
    policies = _policies(resources)
    findings = []
    fenced: set[str] = set()
    for w in resources:
        namespace = shapes.namespace(w.props)
        if w.type not in shapes.K8S_SERVICES or namespace not in declared:
            continue
        specs = policies.get(namespace, [])
        if any(is_unknown(s) for s in specs):
            continue  # computed during preview: judged at `up`
        if namespace not in fenced and not any(_is_default_deny(s) for s in specs):
            findings.append(_unfenced(namespace, declared[namespace]))
        fenced.add(namespace)
        labels = shapes.pod_template_labels(w.type, w.props)
        if not any(selects(s.get("podSelector"), labels) and _allows_something(s) for s in specs):
            findings.append(_uncovered(w, labels))
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Every namespace the stack declares denies all traffic by default, and each "
    "workload's pods are selected by a NetworkPolicy allowing their flows.",
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    remediation="Declare a default-deny NetworkPolicy in each namespace and one allow policy "
    "per workload (the Kubernetes target does: infra.components.network_policy).",
    tags=["security", "kubernetes", "network"],
)
