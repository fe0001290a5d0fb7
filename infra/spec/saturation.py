"""The collectors that show saturation: what the machines under the platform are doing.

Each target has its own: on Kubernetes, kube-state-metrics (objects: restarts,
readiness, replicas), the kubelet's cAdvisor and resource metrics (read through
the API server's node proxy, so nothing in the platform's namespace touches its
host) and, opted in, node-exporter as a DaemonSet in a namespace of its own; on
docker, node-exporter and cAdvisor containers. A served model that requests GPUs
brings NVIDIA's DCGM exporter. `PlatformSpec.collectors` says which run.
"""

from __future__ import annotations

from pydantic import Field

from infra.spec.base import Name, Spec
from infra.spec.components import Resources


class Collector(Spec):
    enabled: bool = Field(default=True, description="Run and scrape this collector.")
    resources: Resources = Field(description="Requests and limits of one collector.")


class NodeExporter(Collector):
    enabled: bool = Field(
        default=False,
        description="Run node-exporter. On kubernetes it is a DaemonSet with host access, in its "
        "own namespace at the privileged Pod Security level: opt in where the cluster's owners "
        "allow it (the kubelet's figures cover the nodes without it).",
    )


class Kubelet(Spec):
    enabled: bool = Field(
        default=True,
        description="Scrape every node's kubelet (cAdvisor, resource and volume metrics) through "
        "the API server's node proxy (kubernetes; Prometheus gets read-only nodes/proxy rights).",
    )


class Saturation(Spec):
    host_namespace: Name | None = Field(
        default=None,
        description="Namespace of the collectors that read their host (node-exporter, the DCGM "
        "exporter) on kubernetes, at the privileged Pod Security level; nothing else runs in it. "
        "Default: <name>-host-metrics. node-exporter binds port 9100 of every node: opt in on "
        "one stack per cluster.",
    )
    node_exporter: NodeExporter = Field(description="Host CPU, memory, disk and network.")
    cadvisor: Collector = Field(description="Per-container figures on docker (dev).")
    kube_state_metrics: Collector = Field(
        description="Kubernetes object state: restarts, readiness, replicas (kubernetes)."
    )
    kubelet: Kubelet = Field(
        default_factory=Kubelet, description="The kubelet's metrics (kubernetes)."
    )
    dcgm_exporter: Collector = Field(
        description="NVIDIA DCGM exporter, run only when a served model requests GPUs."
    )
