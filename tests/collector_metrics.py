"""Metrics the saturation collectors export, which the saturation alerts and their runbooks query.

Like `dashboards.known_metrics.KNOWN_METRICS` (series our own code does not
export), each entry names where it is defined upstream, at the pinned image
versions (`stacks/base.py`). The rule and runbook tests accept these besides the
catalog and the known metrics; when the saturation panels land, this table
belongs in `dashboards/known_metrics.py`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

_CADVISOR = "cAdvisor, also the kubelet's /metrics/cadvisor (google/cadvisor metrics/prometheus.go)"
_KSM = "kube-state-metrics (kubernetes/kube-state-metrics internal/store/{}.go)"
_KUBELET = "kubelet volume stats (kubernetes pkg/kubelet/metrics/collectors/volume_stats.go)"
_NODE = "node-exporter (prometheus/node_exporter collector/{}.go)"
_DCGM = "NVIDIA DCGM exporter default counters (dcgm-exporter etc/default-counters.csv)"

COLLECTOR_METRICS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "container_memory_working_set_bytes": _CADVISOR,
        "container_spec_memory_limit_bytes": _CADVISOR,
        "container_cpu_cfs_periods_total": _CADVISOR,
        "container_cpu_cfs_throttled_periods_total": _CADVISOR,
        "container_cpu_usage_seconds_total": _CADVISOR,
        "kube_pod_container_status_restarts_total": _KSM.format("pod"),
        "kube_pod_container_status_waiting_reason": _KSM.format("pod"),
        "kube_pod_container_status_last_terminated_reason": _KSM.format("pod"),
        "kube_pod_status_ready": _KSM.format("pod"),
        "kube_pod_status_phase": _KSM.format("pod"),
        "kube_deployment_spec_replicas": _KSM.format("deployment"),
        "kube_deployment_status_replicas_available": _KSM.format("deployment"),
        "kube_statefulset_replicas": _KSM.format("statefulset"),
        "kube_statefulset_status_replicas_ready": _KSM.format("statefulset"),
        "kube_node_status_condition": _KSM.format("node"),
        "kubelet_volume_stats_available_bytes": _KUBELET,
        "kubelet_volume_stats_capacity_bytes": _KUBELET,
        "kubelet_volume_stats_used_bytes": _KUBELET,
        "node_filesystem_avail_bytes": _NODE.format("filesystem_common"),
        "node_filesystem_size_bytes": _NODE.format("filesystem_common"),
        "node_filesystem_readonly": _NODE.format("filesystem_common"),
        "node_memory_MemAvailable_bytes": _NODE.format("meminfo"),
        "node_memory_MemTotal_bytes": _NODE.format("meminfo"),
        "prometheus_tsdb_storage_blocks_bytes": "Prometheus TSDB (prometheus/prometheus tsdb/db.go)",
        "prometheus_tsdb_retention_limit_bytes": "Prometheus TSDB (prometheus/prometheus tsdb/db.go)",
        "prometheus_tsdb_lowest_timestamp_seconds": "Prometheus TSDB "
        "(prometheus/prometheus tsdb/db.go)",
        "DCGM_FI_DEV_FB_USED": _DCGM,
        "DCGM_FI_DEV_FB_FREE": _DCGM,
        "DCGM_FI_DEV_GPU_UTIL": _DCGM,
    }
)
