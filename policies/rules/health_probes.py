"""Every workload tells its runtime whether it is ready and alive.

Kubernetes: every long-running container has a readinessProbe and a
livenessProbe with a handler (httpGet, tcpSocket, grpc or exec), and they are
not the same check: liveness tells "alive", readiness "can serve". Docker: a
healthcheck with a test (docker has no separate readiness). Batch workloads
(Jobs, CronJobs) and init containers are not probed.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown
from policies.rules import per_container

NAME = "health-probes"
HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")


def _has_handler(probe: Any) -> bool:
    return is_unknown(probe) or (isinstance(probe, dict) and any(h in probe for h in HANDLERS))


def _docker(subject: str, props: Props) -> list[str]:
    tests = shapes.dig(props, "healthcheck", "tests")
    if is_unknown(tests) or (shapes.as_list(tests) and shapes.as_list(tests)[0] != "NONE"):
        return []
    return [
        f"{subject} has no healthcheck, so docker (and "
        "`pulumi up --wait`) cannot tell a hung process from a healthy one; add a "
        "healthcheck test (CMD ...) against its health endpoint."
    ]


def _handler(probe: Any) -> dict[str, Any]:
    return {h: probe[h] for h in HANDLERS if h in probe}


def _container(subject: str, container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    missing = [p for p in ("readinessProbe", "livenessProbe") if not _has_handler(container.get(p))]
    if missing:
        return [
            f"{subject} has no "
            f"{' or '.join(missing)}; add an httpGet probe on its health endpoint so traffic "
            "waits until it is ready and a hung process is restarted."
        ]
    live, ready = container["livenessProbe"], container["readinessProbe"]
    if is_unknown(live) or is_unknown(ready) or _handler(live) != _handler(ready):
        return []
    return [
        f"{subject} restarts when it is not ready (its livenessProbe is its readinessProbe): a "
        "pod busy or waiting on a dependency is restarted, and its load cascades to the "
        "others; probe liveness on an endpoint that only tells the process runs (or a "
        "tcpSocket)."
    ]


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    return per_container(resource_type, props, _docker, _container, init=False)


POLICY = ResourcePolicy(
    name=NAME,
    description="Every long-running container has readiness and liveness probes, liveness not "
    "the readiness check (a healthcheck on docker).",
    resource_types=shapes.K8S_SERVICES | {shapes.DOCKER_CONTAINER},
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation="Probe each service's health endpoint (readiness and liveness on Kubernetes, a "
    "healthcheck on docker).",
    tags=["reliability"],
)
