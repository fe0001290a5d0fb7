"""Published ports bind to the loopback address only.

Docker publishes a port on every interface (0.0.0.0) unless told otherwise,
which puts Grafana, Prometheus and MLflow (none of them meant for the
network) on the laptop's LAN and Wi-Fi. Every `ports[]` entry of a docker
container must set `ip` to an allowed address (127.0.0.1 or ::1 by default).
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "host-ports-on-localhost"


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    allowed = {str(a) for a in settings["allowedAddresses"]}
    subject = shapes.describe(resource_type, props)
    problems = []
    for port in shapes.as_list(props.get("ports")):
        if not isinstance(port, Mapping):
            continue
        ip = port.get("ip")
        if is_unknown(ip) or ip in allowed:
            continue
        where = "every interface (no ip given)" if not ip else f"{ip}"
        problems.append(
            f"{subject} publishes port {shapes.as_int(port.get('external'), 0)} "
            f"(container port {shapes.as_int(port.get('internal'), 0)}) on {where}, reachable "
            f"from the network; bind it to {' or '.join(sorted(allowed))} "
            "(docker.bindAddress in the stack's config)."
        )
    return problems


POLICY = ResourcePolicy(
    name=NAME,
    description="Docker containers publish their ports on the loopback address only.",
    resource_types=frozenset({shapes.DOCKER_CONTAINER}),
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Keep docker.bindAddress at 127.0.0.1; reach the services through "
    "`pulumi stack output urls`.",
    config={
        "allowedAddresses": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["127.0.0.1", "::1"],
            "description": "Host addresses published ports may bind to.",
        }
    },
    tags=["security", "network"],
)
