"""No host access: no host paths, host namespaces or host ports.

Kubernetes: no `hostPath` volume, no `hostNetwork`/`hostPID`/`hostIPC`, no
container `hostPort`. Docker: no bind mount (`volumes[].hostPath`,
`mounts[].type: bind`), no `host` network, PID or IPC mode, no devices.
Data belongs in named volumes (docker) or PersistentVolumeClaims.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings

NAME = "no-host-access"


def _docker(props: Props) -> list[str]:
    subject = shapes.describe(shapes.DOCKER_CONTAINER, props)
    problems = []
    for volume in shapes.as_list(props.get("volumes")):
        if isinstance(volume, Mapping) and volume.get("hostPath"):
            problems.append(
                f"{subject} mounts the host path {volume['hostPath']} at "
                f"{volume.get('containerPath')}; use a named docker volume (volumeName) instead."
            )
    for mount in shapes.as_list(props.get("mounts")):
        if isinstance(mount, Mapping) and mount.get("type") == "bind":
            problems.append(
                f"{subject} bind-mounts {mount.get('source')} from the host; use a named "
                "volume mount (type volume) instead."
            )
    for key in ("networkMode", "pidMode", "ipcMode"):
        if props.get(key) == "host":
            problems.append(
                f"{subject} shares the host's namespace ({key}=host); remove {key} and publish "
                "ports on 127.0.0.1 instead."
            )
    if shapes.as_list(props.get("devices")):
        problems.append(f"{subject} is given host devices; remove `devices`.")
    return problems


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    if resource_type == shapes.DOCKER_CONTAINER:
        return _docker(props)
    subject = shapes.describe(resource_type, props)
    pod = shapes.pod_spec(resource_type, props)
    problems = [
        f"{subject} mounts the host path {shapes.dig(v, 'hostPath', 'path')} (volume "
        f"{v.get('name')}); use a PersistentVolumeClaim or an emptyDir instead."
        for v in shapes.as_list(pod.get("volumes"))
        if isinstance(v, Mapping) and "hostPath" in v
    ]
    problems += [
        f"{subject} shares the node's namespace ({key}: true); remove {key}."
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if pod.get(key) is True
    ]
    for container in shapes.containers(pod):
        for port in shapes.as_list(container.get("ports")):
            if isinstance(port, Mapping) and port.get("hostPort"):
                problems.append(
                    f"{shapes.container_label(resource_type, props, container)} binds host port "
                    f"{shapes.as_int(port['hostPort'], 0)}; remove hostPort and expose it "
                    "through a Service."
                )
    return problems


POLICY = ResourcePolicy(
    name=NAME,
    description="No container reaches into its host: no host paths, host namespaces, host ports "
    "or devices.",
    resource_types=shapes.WORKLOADS,
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation="Keep data in named volumes or PersistentVolumeClaims and reach services "
    "through published ports or Services.",
    tags=["security", "pod-security"],
)
