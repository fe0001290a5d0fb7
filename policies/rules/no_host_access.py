"""No host access: no host paths, host namespaces or host ports.

Kubernetes: no `hostPath` volume, no `hostNetwork`/`hostPID`/`hostIPC`, no
container `hostPort`. Docker: no bind mount (`volumes[].hostPath`,
`mounts[].type: bind`), no `host` network, PID or IPC mode, no devices.
Data belongs in named volumes (docker) or PersistentVolumeClaims.

The one exception is declared in `infra.conventions.HOST_ACCESS`: a collector
whose purpose is reading its host (node-exporter, cAdvisor, the DCGM exporter),
recognised by its label and its image, may have exactly the host paths listed
there, read-only, and the host namespaces listed there; nothing else, and
nobody else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings

NAME = "no-host-access"


def _allowed_path(allowed: cv.HostAccess | None, source: Any, target: Any, ro: Any) -> bool:
    return allowed is not None and ro is True and (source, target) in allowed.paths


def _allowed_namespace(allowed: cv.HostAccess | None, key: str) -> bool:
    """hostPID/pidMode and hostNetwork/networkMode, as the exception grants them."""
    if allowed is None:
        return False
    grants = {
        "pidMode": allowed.pid,
        "hostPID": allowed.pid,
        "networkMode": allowed.network,
        "hostNetwork": allowed.network,
    }
    return grants.get(key, False)


def _docker(props: Props) -> list[str]:
    subject = shapes.describe(shapes.DOCKER_CONTAINER, props)
    allowed = shapes.host_access(shapes.DOCKER_CONTAINER, props)
    problems = []
    for volume in shapes.as_list(props.get("volumes")):
        if isinstance(volume, Mapping) and volume.get("hostPath"):
            if _allowed_path(
                allowed, volume["hostPath"], volume.get("containerPath"), volume.get("readOnly")
            ):
                continue
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
        if props.get(key) == "host" and not _allowed_namespace(allowed, key):
            problems.append(
                f"{subject} shares the host's namespace ({key}=host); remove {key} and publish "
                "ports on 127.0.0.1 instead."
            )
    if shapes.as_list(props.get("devices")):
        problems.append(f"{subject} is given host devices; remove `devices`.")
    return problems


def _allowed_host_volume(
    allowed: cv.HostAccess | None, pod: Mapping[str, Any], volume: Mapping[str, Any]
) -> bool:
    """A hostPath volume the exception grants: every mount of it is one of its listed
    (host path, mount path) pairs, read-only."""
    source = shapes.dig(volume, "hostPath", "path")
    mounts = [
        m
        for c in shapes.containers(pod)
        for m in shapes.as_list(c.get("volumeMounts"))
        if isinstance(m, Mapping) and m.get("name") == volume.get("name")
    ]
    return bool(mounts) and all(
        _allowed_path(allowed, source, m.get("mountPath"), m.get("readOnly")) for m in mounts
    )


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    if resource_type == shapes.DOCKER_CONTAINER:
        return _docker(props)
    subject = shapes.describe(resource_type, props)
    pod = shapes.pod_spec(resource_type, props)
    allowed = shapes.host_access(resource_type, props)
    problems = [
        f"{subject} mounts the host path {shapes.dig(v, 'hostPath', 'path')} (volume "
        f"{v.get('name')}); use a PersistentVolumeClaim or an emptyDir instead."
        for v in shapes.as_list(pod.get("volumes"))
        if isinstance(v, Mapping) and "hostPath" in v and not _allowed_host_volume(allowed, pod, v)
    ]
    problems += [
        f"{subject} shares the node's namespace ({key}: true); remove {key}."
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if pod.get(key) is True and not _allowed_namespace(allowed, key)
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
