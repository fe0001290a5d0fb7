"""Root filesystems are read-only: what a process may write goes to a volume or a tmpfs.

Kubernetes: `securityContext.readOnlyRootFilesystem: true` on every container
(the default is writable). Docker: `readOnly: true`.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "read-only-root-filesystem"


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    if resource_type == shapes.DOCKER_CONTAINER:
        value = props.get("readOnly")
        if value is True or is_unknown(value):
            return []
        return [
            f"{shapes.describe(resource_type, props)} has a writable root filesystem "
            f"(readOnly {'false' if value is False else 'not set'}); set read_only=True and give "
            "writable paths a volume or a tmpfs."
        ]
    return [
        f"{shapes.container_label(resource_type, props, c)} has a writable root filesystem; set "
        "securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes."
        for c in shapes.containers(shapes.pod_spec(resource_type, props))
        if shapes.dig(c, "securityContext", "readOnlyRootFilesystem") is not True
        and not is_unknown(shapes.dig(c, "securityContext", "readOnlyRootFilesystem"))
    ]


POLICY = ResourcePolicy(
    name=NAME,
    description="Every container's root filesystem is read-only.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation="Make the root filesystem read-only; mount a volume or emptyDir/tmpfs where the "
    "process writes.",
    tags=["security"],
)
