"""No privilege escalation: a process cannot gain more privileges than it started with.

Kubernetes: `securityContext.allowPrivilegeEscalation: false` on every
container (it defaults to true). Docker: `securityOpts` has
`no-new-privileges` (or `no-new-privileges:true`).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown
from policies.rules import per_container

NAME = "no-privilege-escalation"
NO_NEW_PRIVILEGES = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}


def _docker(subject: str, props: Props) -> list[str]:
    opts = props.get("securityOpts")
    if is_unknown(opts) or NO_NEW_PRIVILEGES & set(shapes.as_list(opts)):
        return []
    return [
        f"{subject} may gain privileges (setuid binaries); add "
        "`no-new-privileges:true` to security_opts."
    ]


def _container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    allowed = shapes.dig(container, "securityContext", "allowPrivilegeEscalation")
    if allowed is False or is_unknown(allowed):
        return []
    return [
        f"{subject} may escalate privileges (allowPrivilegeEscalation defaults to true); set "
        "securityContext.allowPrivilegeEscalation: false."
    ]


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    return per_container(resource_type, props, _docker, _container)


POLICY = ResourcePolicy(
    name=NAME,
    description="No container can escalate its privileges.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Set allowPrivilegeEscalation: false (Kubernetes) or no-new-privileges:true "
    "(docker).",
    tags=["security", "pod-security"],
)
