"""Every workload states what it needs and what it may use.

Kubernetes: every container requests cpu and memory and limits memory (a
cpu limit only where the policy config asks: throttling often hurts more
than it helps); a container that mounts scratch space (an emptyDir) also
requests and limits ephemeral-storage, or a full scratch folder or log fills
its node's disk and the kubelet evicts whatever it picks. Docker: a memory limit (`memory`) and reservation
(`memoryReservation`), in MB.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown
from policies.rules import per_container

NAME = "resources-requested-and-limited"


def _set(value: Any) -> bool:
    return is_unknown(value) or value not in (None, "", 0)


def _docker(subject: str, props: Props) -> list[str]:
    missing = [key for key in ("memory", "memoryReservation") if not _set(props.get(key))]
    if not missing:
        return []
    return [
        f"{subject} has no {' or '.join(missing)}; set the "
        "memory limit and reservation (MB) from the component's `resources` in the spec, "
        "or one runaway container starves the rest."
    ]


SCRATCH = [("requests", "ephemeral-storage"), ("limits", "ephemeral-storage")]


def _writes_scratch(container: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Whether the container mounts an emptyDir (scratch space on the node's disk)."""
    scratch = {
        v.get("name")
        for v in shapes.as_list(pod.get("volumes"))
        if isinstance(v, dict) and "emptyDir" in v and "medium" not in shapes.as_dict(v["emptyDir"])
    }
    return any(
        isinstance(m, dict) and m.get("name") in scratch
        for m in shapes.as_list(container.get("volumeMounts"))
    )


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
    if settings["requireCpuLimit"]:
        wanted.append(("limits", "cpu"))

    def judge_container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
        resources = container.get("resources")
        if is_unknown(resources):
            return []
        needs = wanted + (SCRATCH if _writes_scratch(container, pod) else [])
        missing = [
            f"{kind}.{what}" for kind, what in needs if not _set(shapes.dig(resources, kind, what))
        ]
        if not missing:
            return []
        return [
            f"{subject} has no "
            f"{', '.join(missing)}; set them (the component's `resources` in the spec: "
            "cpuRequest, memoryRequest, memoryLimit; the program sizes ephemeral-storage from "
            "the scratch folders) so it is scheduled where it fits and cannot exhaust its node."
        ]

    return per_container(resource_type, props, _docker, judge_container)


POLICY = ResourcePolicy(
    name=NAME,
    description="Every container requests cpu and memory and has a memory limit.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation="Set resources (cpuRequest, memoryRequest, memoryLimit) for the component in "
    "the stack's config.",
    config={
        "requireCpuLimit": {
            "type": "boolean",
            "default": False,
            "description": "Also require a cpu limit on every container.",
        }
    },
    tags=["reliability"],
)
