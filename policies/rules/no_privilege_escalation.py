"""No privilege escalation: a process cannot gain more privileges than it started with.

Kubernetes: `securityContext.allowPrivilegeEscalation: false` on every
container (it defaults to true). Docker: `securityOpts` has
`no-new-privileges` (or `no-new-privileges:true`).
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "no-privilege-escalation"
NO_NEW_PRIVILEGES = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    if resource_type == shapes.DOCKER_CONTAINER:
        opts = props.get("securityOpts")
        if is_unknown(opts) or NO_NEW_PRIVILEGES & set(shapes.as_list(opts)):
            return []
        return [
            f"{shapes.describe(resource_type, props)} may gain privileges (setuid binaries); add "
            "`no-new-privileges:true` to security_opts."
        ]
    return [
        f"{shapes.container_label(resource_type, props, c)} may escalate privileges "
        "(allowPrivilegeEscalation defaults to true); set "
        "securityContext.allowPrivilegeEscalation: false."
        for c in shapes.containers(shapes.pod_spec(resource_type, props))
        if shapes.dig(c, "securityContext", "allowPrivilegeEscalation") is not False
        and not is_unknown(shapes.dig(c, "securityContext", "allowPrivilegeEscalation"))
    ]


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
