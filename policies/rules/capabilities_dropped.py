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
from policies.rules import per_container

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

    def judge_docker(subject: str, props: Props) -> list[str]:
        caps = props.get("capabilities")
        return _judge(
            subject,
            shapes.dig(caps, "drops"),
            shapes.dig(caps, "adds"),
            allowed,
            ("capabilities.drops", "capabilities.adds"),
        )

    def judge_container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
        return _judge(
            subject,
            shapes.dig(container, "securityContext", "capabilities", "drop"),
            shapes.dig(container, "securityContext", "capabilities", "add"),
            allowed,
            ("securityContext.capabilities.drop", "securityContext.capabilities.add"),
        )

    return per_container(resource_type, props, judge_docker, judge_container)


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
