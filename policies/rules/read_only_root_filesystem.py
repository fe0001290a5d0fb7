"""Root filesystems are read-only: what a process may write goes to a volume or a tmpfs.

Kubernetes: `securityContext.readOnlyRootFilesystem: true` on every container
(the default is writable). Docker: `readOnly: true`.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown
from policies.rules import per_container

NAME = "read-only-root-filesystem"


def _docker(subject: str, props: Props) -> list[str]:
    value = props.get("readOnly")
    if value is True or is_unknown(value):
        return []
    return [
        f"{subject} has a writable root filesystem "
        f"(readOnly {'false' if value is False else 'not set'}); set read_only=True and give "
        "writable paths a volume or a tmpfs."
    ]


def _container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    value = shapes.dig(container, "securityContext", "readOnlyRootFilesystem")
    if value is True or is_unknown(value):
        return []
    return [
        f"{subject} has a writable root filesystem; set "
        "securityContext.readOnlyRootFilesystem: true and mount an emptyDir where it writes."
    ]


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    return per_container(resource_type, props, _docker, _container)


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
