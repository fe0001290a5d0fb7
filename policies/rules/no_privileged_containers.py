"""No privileged containers: a privileged container is root on the node.

Kubernetes: `securityContext.privileged` must not be true on any container
(absent means false). Docker: `privileged` must not be true.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings

NAME = "no-privileged-containers"


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    if resource_type == shapes.DOCKER_CONTAINER:
        if props.get("privileged") is True:
            return [
                f"{shapes.describe(resource_type, props)} runs privileged (root on the host); "
                "set privileged=False and grant only the capability it needs, if any."
            ]
        return []
    return [
        f"{shapes.container_label(resource_type, props, c)} runs privileged (root on the node); "
        "remove securityContext.privileged or set it to false."
        for c in shapes.containers(shapes.pod_spec(resource_type, props))
        if shapes.dig(c, "securityContext", "privileged") is True
    ]


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
