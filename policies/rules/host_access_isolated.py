"""The namespace that lets pods reach their hosts holds the host collectors and nothing else.

node-exporter (and the DCGM exporter) need host PID, network and paths, so they
run in a namespace of their own at the `privileged` Pod Security level: there,
admission refuses nothing. Anything else placed in it escapes the `restricted`
profile the platform's namespace enforces. So a namespace the stack declares at
a level below `restricted`'s guarantees (privileged or baseline) may hold only
workloads `no-host-access` recognises as host collectors
(`infra.conventions.HOST_ACCESS`), and such a collector that shares its host's
namespaces must not sit in a `restricted` namespace, where admission refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Finding, Props, Settings, StackPolicy, StackResource

NAME = "host-access-isolated"
NAMESPACE = "kubernetes:core/v1:Namespace"
ENFORCE = "pod-security.kubernetes.io/enforce"


def _levels(resources: Sequence[StackResource]) -> dict[str, str]:
    """Each namespace the stack declares -> its enforced Pod Security level."""
    levels = {}
    for r in resources:
        if r.type == NAMESPACE:
            name = shapes.dig(r.props, "metadata", "name")
            level = shapes.dig(r.props, "metadata", "labels", ENFORCE)
            if isinstance(name, str):
                levels[name] = level if isinstance(level, str) else "privileged"
    return levels


def _uses_host(resource_type: str, props: Props) -> bool:
    pod = shapes.pod_spec(resource_type, props)
    volumes = shapes.as_list(pod.get("volumes"))
    return any(pod.get(k) is True for k in ("hostPID", "hostNetwork", "hostIPC")) or any(
        isinstance(v, dict) and "hostPath" in v for v in volumes
    )


def check(resources: Sequence[StackResource], settings: Settings) -> list[Finding]:
    levels = _levels(resources)
    findings = []
    for w in resources:
        if w.type not in shapes.K8S_WORKLOADS:
            continue
        namespace = shapes.namespace(w.props)
        level = levels.get(namespace) if isinstance(namespace, str) else None
        subject = shapes.describe(w.type, w.props)
        collector = shapes.host_access(w.type, w.props) is not None
        if level in ("privileged", "baseline") and not collector:
            findings.append(
                Finding(
                    f"{subject} runs in namespace {namespace}, whose Pod Security level is "
                    f"{level} so that the host collectors may read their hosts; nothing else "
                    "belongs there: move it to the platform's restricted namespace.",
                    w.urn,
                )
            )
        elif level == "restricted" and collector and _uses_host(w.type, w.props):
            findings.append(
                Finding(
                    f"{subject} reads its host but runs in the restricted namespace "
                    f"{namespace}, where Pod Security admission refuses its pods; move it to "
                    "the host collectors' namespace (saturation.hostNamespace).",
                    w.urn,
                )
            )
    return findings


POLICY = StackPolicy(
    name=NAME,
    description="Only the host collectors run in the namespace that lets pods reach their "
    "hosts, and they run nowhere else.",
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Keep every other workload in the platform's restricted namespace, and the "
    "host collectors in saturation.hostNamespace.",
    tags=["security", "pod-security"],
)
