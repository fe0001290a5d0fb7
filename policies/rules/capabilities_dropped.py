"""Capabilities are dropped: every container drops ALL and adds back only what is allowed.

Kubernetes: `securityContext.capabilities.drop` contains ALL and `add` holds
only allowed capabilities (NET_BIND_SERVICE by default, as the restricted
Pod Security profile allows). Docker: `capabilities.drops` contains ALL and
`capabilities.adds` only allowed ones.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "capabilities-dropped"


def _names(values: Any) -> set[str]:
    return {str(v).upper().removeprefix("CAP_") for v in shapes.as_list(values)}


def _judge(
    subject: str, drop: Any, add: Any, allowed: set[str], fields: tuple[str, str]
) -> list[str]:
    if is_unknown(drop) or is_unknown(add):
        return []
    problems = []
    if "ALL" not in _names(drop):
        problems.append(
            f"{subject} keeps the runtime's default capabilities ({fields[0]} lacks ALL); drop "
            f"ALL and add back only what it needs ({', '.join(sorted(allowed)) or 'nothing'} "
            "is allowed)."
        )
    extra = _names(add) - allowed
    if extra:
        problems.append(
            f"{subject} adds capabilities {', '.join(sorted(extra))}; remove them from "
            f"{fields[1]} (allowed: {', '.join(sorted(allowed)) or 'none'})."
        )
    return problems


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    allowed = {str(c).upper() for c in settings["allowedCapabilities"]}
    if resource_type == shapes.DOCKER_CONTAINER:
        caps = props.get("capabilities")
        return _judge(
            shapes.describe(resource_type, props),
            shapes.dig(caps, "drops"),
            shapes.dig(caps, "adds"),
            allowed,
            ("capabilities.drops", "capabilities.adds"),
        )
    return [
        problem
        for c in shapes.containers(shapes.pod_spec(resource_type, props))
        for problem in _judge(
            shapes.container_label(resource_type, props, c),
            shapes.dig(c, "securityContext", "capabilities", "drop"),
            shapes.dig(c, "securityContext", "capabilities", "add"),
            allowed,
            ("securityContext.capabilities.drop", "securityContext.capabilities.add"),
        )
    ]


POLICY = ResourcePolicy(
    name=NAME,
    description="Every container drops all Linux capabilities and adds back only allowed ones.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Drop ALL capabilities; add back only NET_BIND_SERVICE if a process must bind a "
    "port below 1024.",
    config={
        "allowedCapabilities": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["NET_BIND_SERVICE"],
            "description": "Capabilities a container may add back after dropping ALL.",
        }
    },
    tags=["security", "pod-security"],
)
