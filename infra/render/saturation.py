"""The scrape jobs of the saturation collectors, each series labelled with its `component`.

Container figures come from docker's cAdvisor container in dev and from every
kubelet's cAdvisor on Kubernetes; both are job `cadvisor`, and both get the
`component` label here, from whatever names the container on that target (a
docker container name, a cgroup path, a pod, a workload or a volume claim). So
one rule and one panel read both targets. Each job keeps only the metrics the
rules and dashboards read: cAdvisor alone exposes dozens per container.
"""

from __future__ import annotations

from typing import Any, Final

from infra import conventions as cv
from infra.endpoints import Endpoints
from infra.spec import PlatformSpec

C = cv.Component
SERVICE_ACCOUNT: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
API_SERVER: Final = "kubernetes.default.svc:443"

# The metrics each collector's job keeps, everything else dropped at scrape time (a regex on
# __name__); kube-state-metrics is told its own at start (its --metric-allowlist).
KEEP: Final[dict[str, tuple[str, ...]]] = {
    cv.JOB[C.KUBE_STATE_METRICS]: (
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_waiting_reason",
        "kube_pod_container_status_last_terminated_reason",
        "kube_pod_container_resource_requests",
        "kube_pod_container_resource_limits",
        "kube_pod_status_ready",
        "kube_pod_status_phase",
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas_available",
        "kube_statefulset_replicas",
        "kube_statefulset_status_replicas_ready",
        "kube_daemonset_status_desired_number_scheduled",
        "kube_daemonset_status_number_ready",
        "kube_persistentvolumeclaim_resource_requests_storage_bytes",
        "kube_node_status_condition",
        "kube_node_status_allocatable",
    ),
    cv.JOB[C.CADVISOR]: (
        "container_cpu_usage_seconds_total",
        "container_cpu_cfs_periods_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_memory_working_set_bytes",
        "container_spec_memory_limit_bytes",
        "container_spec_cpu_quota",
        "container_spec_cpu_period",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_oom_events_total",
    ),
    cv.KUBELET_JOB: (
        "kubelet_volume_stats_available_bytes",
        "kubelet_volume_stats_capacity_bytes",
        "kubelet_volume_stats_used_bytes",
    ),
    cv.KUBELET_RESOURCE_JOB: ("node_cpu_usage_seconds_total", "node_memory_working_set_bytes"),
}
# Labels that name a container, pod, workload or volume claim, in the order they are read
# (a later match wins): its component is the name after the stack's prefix.
NAMED_BY: Final = (
    "id",
    "name",
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "persistentvolumeclaim",
)


def _components() -> str:
    # Longest first, so `serving` never shadows a longer name sharing its start.
    return "|".join(sorted((c.value for c in C), key=lambda v: (-len(v), v)))


def component_relabels(spec: PlatformSpec) -> list[dict[str, Any]]:
    """metric_relabel_configs that set `component` from the names a series carries: the
    name after the stack's prefix in any of NAMED_BY, or a Kubernetes container's name."""
    named = f"(?:.*[;/])?(?:data-)?{spec.name}-({_components()})(?:[-;].*)?"
    return [
        {
            "source_labels": list(NAMED_BY),
            "separator": ";",
            "regex": named,
            "target_label": cv.COMPONENT_LABEL,
            "replacement": "$1",
        },
        # On Kubernetes a container is named after its component (infra.components.kubernetes).
        {
            "source_labels": ["namespace", "container"],
            "separator": ";",
            "regex": f"(?:{_namespaces(spec)});({_components()})",
            "target_label": cv.COMPONENT_LABEL,
            "replacement": "$1",
        },
    ]


def _namespaces(spec: PlatformSpec) -> str:
    return f"{spec.kubernetes.namespace}|{spec.host_namespace}"


def _keep(job: str) -> dict[str, Any]:
    return {"source_labels": ["__name__"], "regex": "|".join(KEEP[job]), "action": "keep"}


def _containers_only() -> dict[str, Any]:
    """The kubelet's cAdvisor also reports each pod's own cgroup (container "" or "POD"),
    which would count a pod twice; only network figures exist at pod level alone."""
    return {
        "source_labels": ["__name__", "container"],
        "separator": ";",
        "regex": "container_(?:cpu|memory|spec|oom)_[a-z_]*;(?:POD)?",
        "action": "drop",
    }


def _ours() -> dict[str, Any]:
    """Drop the series of containers that are not the platform's."""
    return {"source_labels": [cv.COMPONENT_LABEL], "regex": "", "action": "drop"}


def _through_api_server(job: str, path: str) -> dict[str, Any]:
    """One kubelet endpoint of every node, read through the API server's node proxy: the
    standard Prometheus example, needing only `nodes/proxy` get, never the node's network."""
    return {
        "job_name": job,
        "scheme": "https",
        "authorization": {"credentials_file": f"{SERVICE_ACCOUNT}/token"},
        "tls_config": {"ca_file": f"{SERVICE_ACCOUNT}/ca.crt"},
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"target_label": "__address__", "replacement": API_SERVER},
            {
                "source_labels": ["__meta_kubernetes_node_name"],
                "regex": "(.+)",
                "target_label": "__metrics_path__",
                "replacement": f"/api/v1/nodes/$1/proxy{path}",
            },
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
        ],
    }


def kubelet_jobs(spec: PlatformSpec) -> list[dict[str, Any]]:
    if not spec.kubelet_scraped:
        return []
    in_platform = {
        "source_labels": ["namespace"],
        "regex": _namespaces(spec),
        "action": "keep",
    }
    cadvisor = cv.JOB[C.CADVISOR]
    return [
        _through_api_server(cadvisor, "/metrics/cadvisor")
        | {
            "metric_relabel_configs": [
                _keep(cadvisor),
                in_platform,
                _containers_only(),
                *component_relabels(spec),
                _ours(),
            ]
        },
        _through_api_server(cv.KUBELET_JOB, "/metrics")
        | {
            "metric_relabel_configs": [
                _keep(cv.KUBELET_JOB),
                in_platform,
                *component_relabels(spec),
            ]
        },
        _through_api_server(cv.KUBELET_RESOURCE_JOB, "/metrics/resource")
        | {"metric_relabel_configs": [_keep(cv.KUBELET_RESOURCE_JOB)]},
    ]


def collector_job(
    component: C, spec: PlatformSpec, endpoints: Endpoints, discovery: dict[str, Any]
) -> dict[str, Any]:
    """The scrape job of one collector the stack runs, from its endpoint's discovery."""
    job: dict[str, Any] = {"job_name": cv.JOB[component]}
    if component is C.CADVISOR:
        # The docker container's own figures: the machine's and other containers' go.
        job["metric_relabel_configs"] = [
            _keep(cv.JOB[C.CADVISOR]),
            *component_relabels(spec),
            _ours(),
        ]
    elif component in (C.KUBE_STATE_METRICS, C.DCGM_EXPORTER):
        # Their namespace, pod and container labels name the object described, not the
        # collector's own pod: keep them.
        job["honor_labels"] = True
        job["metric_relabel_configs"] = component_relabels(spec)
    if component is C.DCGM_EXPORTER:
        # Only served models request GPUs.
        job["metric_relabel_configs"].append(
            {"target_label": cv.COMPONENT_LABEL, "replacement": C.SERVING.value}
        )
    job.update(discovery)
    if component is C.NODE_EXPORTER and "kubernetes_sd_configs" in discovery:
        job["relabel_configs"].append(
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"}
        )
    return job
