"""No privileged containers: a privileged container is root on the node.

Kubernetes: `securityContext.privileged` must not be true on any container
(absent means false). Docker: `privileged` must not be true.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings
from policies.rules import per_container

NAME = "no-privileged-containers"


def _docker(subject: str, props: Props) -> list[str]:
    if props.get("privileged") is not True:
        return []
    return [
        f"{subject} runs privileged (root on the host); "
        "set privileged=False and grant only the capability it needs, if any."
    ]


def _container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    if shapes.dig(container, "securityContext", "privileged") is not True:
        return []
    return [
        f"{subject} runs privileged (root on the node); "
        "remove securityContext.privileged or set it to false."
    ]


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    return per_container(resource_type, props, _docker, _container)


POLICY = ResourcePolicy(
    name=NAME,
    description="No container runs privileged.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Drop `privileged`; the restricted Pod Security profile forbids it.",
    tags=["security", "pod-security"],
)
