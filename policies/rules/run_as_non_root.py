"""Containers run as a non-root user.

Kubernetes: `runAsNonRoot: true` on the container or its pod (the container
wins), and no `runAsUser: 0`; without it the image's USER decides, and many
images run as root. Docker: `user` set to a non-root uid (the image's USER
applies when it is unset). The exception: a collector that reads files only
root may read (`infra.conventions.HOST_ACCESS`, cAdvisor and the DCGM exporter).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown
from policies.rules import per_container

NAME = "run-as-non-root"


def _effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    own = shapes.dig(container, "securityContext", key)
    return own if own is not None else shapes.dig(pod, "securityContext", key)


def _docker(subject: str, props: Props) -> list[str]:
    user = props.get("user")
    if is_unknown(user):
        return []
    if not isinstance(user, str) or not user:
        return [
            f"{subject} sets no user, so it runs as the image's USER (often root); "
            "set user to a non-root uid:gid such as 65534:65534."
        ]
    if user.split(":", 1)[0] in {"0", "root"}:
        return [f"{subject} runs as root (user {user}); set a non-root uid:gid."]
    return []


def _container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    non_root = _effective(pod, container, "runAsNonRoot")
    uid = _effective(pod, container, "runAsUser")
    problems = []
    if non_root is not True and not is_unknown(non_root):
        problems.append(
            f"{subject}: runAsNonRoot is {'false' if non_root is False else 'not set'}, so "
            "the image decides who it runs as; set securityContext.runAsNonRoot: true "
            "(pod or container) and runAsUser to the image's non-root uid."
        )
    if not isinstance(uid, bool) and isinstance(uid, int | float) and int(uid) == 0:
        problems.append(f"{subject}: runAsUser is 0 (root); use the image's non-root uid.")
    return problems


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    allowed = shapes.host_access(resource_type, props)
    if allowed is not None and allowed.root:
        return []  # a collector reading root's files (infra.conventions.HOST_ACCESS)
    return per_container(resource_type, props, _docker, _container)


POLICY = ResourcePolicy(
    name=NAME,
    description="Every container runs as a non-root user.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Set runAsNonRoot: true and a non-root runAsUser (Kubernetes), or user uid:gid "
    "(docker).",
    tags=["security", "pod-security"],
)
