"""Metrics the platform's components export about themselves, which dashboards may query.

`service.catalog` lists what our code exports; this lists the rest: series
Prometheus, Alertmanager and the Pushgateway expose on their own /metrics (or,
for `up`, that Prometheus writes for every scrape), and those of the saturation
collectors (cAdvisor, kube-state-metrics, the kubelet, node-exporter, DCGM). The dashboard tests accept a
queried metric only if it is in the catalog, here, or recorded by our rules,
so a typo or a metric renamed upstream fails a test instead of drawing an
empty panel. Each entry names where the metric is defined upstream; add one
only after checking the component's /metrics at the pinned image version.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

KNOWN_METRICS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        "up": "Prometheus scrape loop, one sample per target and scrape "
        "(prometheus/prometheus scrape/scrape.go)",
        "scrape_samples_post_metric_relabeling": "Prometheus scrape loop, samples a target "
        "exposed after metric relabelling (prometheus/prometheus scrape/scrape.go)",
        "scrape_sample_limit": "Prometheus scrape loop, the job's sample_limit, with "
        "--enable-feature=extra-scrape-metrics (prometheus/prometheus scrape/scrape.go)",
        "prometheus_target_scrapes_exceeded_sample_limit_total": "Prometheus scrape manager, "
        "scrapes rejected over their sample_limit (prometheus/prometheus scrape/metrics.go)",
        "prometheus_rule_evaluation_failures_total": "Prometheus rule manager "
        "(prometheus/prometheus rules/group.go)",
        "prometheus_rule_group_last_duration_seconds": "Prometheus rule manager "
        "(prometheus/prometheus rules/group.go)",
        "prometheus_tsdb_head_series": "Prometheus TSDB (prometheus/prometheus tsdb/head.go)",
        "prometheus_notifications_dropped_total": "Prometheus notifier "
        "(prometheus/prometheus notifier/metric.go)",
        "alertmanager_notifications_total": "Alertmanager notification pipeline "
        "(prometheus/alertmanager notify/notify.go)",
        "alertmanager_notifications_failed_total": "Alertmanager notification pipeline "
        "(prometheus/alertmanager notify/notify.go)",
        "alertmanager_alerts": "Alertmanager alert store, by state "
        "(prometheus/alertmanager provider/mem/mem.go)",
        "ALERTS": "Prometheus rule manager, one series per pending or firing alert "
        "(prometheus/prometheus rules/alerting.go)",
        "push_time_seconds": "Pushgateway, last successful push of each group "
        "(prometheus/pushgateway storage/diskmetricstore.go)",
        "push_failure_time_seconds": "Pushgateway, last failed push of each group "
        "(prometheus/pushgateway storage/diskmetricstore.go)",
        "prometheus_tsdb_lowest_timestamp_seconds": "Prometheus TSDB, oldest sample kept "
        "(prometheus/prometheus tsdb/db.go)",
        "prometheus_tsdb_storage_blocks_bytes": "Prometheus TSDB, bytes of the persisted "
        "blocks (prometheus/prometheus tsdb/db.go)",
        "prometheus_tsdb_retention_limit_bytes": "Prometheus TSDB, the retention size, 0 when "
        "unset (prometheus/prometheus tsdb/db.go)",
        # Saturation collectors (infra.render.saturation keeps these at scrape time).
        **dict.fromkeys(
            (
                "container_cpu_usage_seconds_total",
                "container_cpu_cfs_periods_total",
                "container_cpu_cfs_throttled_periods_total",
                "container_memory_working_set_bytes",
                "container_spec_memory_limit_bytes",
                "container_spec_cpu_quota",
                "container_spec_cpu_period",
                "container_network_receive_bytes_total",
                "container_network_transmit_bytes_total",
            ),
            "cAdvisor, per container: docker's cAdvisor container or the kubelet's "
            "/metrics/cadvisor (google/cadvisor metrics/prometheus.go)",
        ),
        "kube_pod_container_resource_requests": "kube-state-metrics, by resource and unit "
        "(kubernetes/kube-state-metrics internal/store/pod.go)",
        "kube_pod_container_status_restarts_total": "kube-state-metrics "
        "(kubernetes/kube-state-metrics internal/store/pod.go)",
        "kube_pod_status_ready": "kube-state-metrics, by condition "
        "(kubernetes/kube-state-metrics internal/store/pod.go)",
        "kube_pod_status_phase": "kube-state-metrics, by phase "
        "(kubernetes/kube-state-metrics internal/store/pod.go)",
        "kube_pod_container_status_waiting_reason": "kube-state-metrics, by reason "
        "(kubernetes/kube-state-metrics internal/store/pod.go)",
        "kube_pod_container_status_last_terminated_reason": "kube-state-metrics, by reason "
        "(kubernetes/kube-state-metrics internal/store/pod.go)",
        "kube_deployment_spec_replicas": "kube-state-metrics "
        "(kubernetes/kube-state-metrics internal/store/deployment.go)",
        "kube_deployment_status_replicas_available": "kube-state-metrics "
        "(kubernetes/kube-state-metrics internal/store/deployment.go)",
        "kube_statefulset_replicas": "kube-state-metrics "
        "(kubernetes/kube-state-metrics internal/store/statefulset.go)",
        "kube_statefulset_status_replicas_ready": "kube-state-metrics "
        "(kubernetes/kube-state-metrics internal/store/statefulset.go)",
        "kube_node_status_condition": "kube-state-metrics, by condition and status "
        "(kubernetes/kube-state-metrics internal/store/node.go)",
        "kube_node_status_allocatable": "kube-state-metrics, by resource and unit "
        "(kubernetes/kube-state-metrics internal/store/node.go)",
        "kubelet_volume_stats_available_bytes": "kubelet, per PersistentVolumeClaim "
        "(kubernetes/kubernetes pkg/kubelet/metrics/collectors/volume_stats.go)",
        "kubelet_volume_stats_capacity_bytes": "kubelet, per PersistentVolumeClaim "
        "(kubernetes/kubernetes pkg/kubelet/metrics/collectors/volume_stats.go)",
        "kubelet_volume_stats_used_bytes": "kubelet, per PersistentVolumeClaim "
        "(kubernetes/kubernetes pkg/kubelet/metrics/collectors/volume_stats.go)",
        "node_cpu_usage_seconds_total": "kubelet /metrics/resource, per node "
        "(kubernetes/kubernetes pkg/kubelet/metrics/collectors/resource_metrics.go)",
        "node_memory_working_set_bytes": "kubelet /metrics/resource, per node "
        "(kubernetes/kubernetes pkg/kubelet/metrics/collectors/resource_metrics.go)",
        "node_cpu_seconds_total": "node-exporter, by cpu and mode "
        "(prometheus/node_exporter collector/cpu_linux.go)",
        "node_memory_MemAvailable_bytes": "node-exporter, from /proc/meminfo "
        "(prometheus/node_exporter collector/meminfo.go)",
        "node_memory_MemTotal_bytes": "node-exporter, from /proc/meminfo "
        "(prometheus/node_exporter collector/meminfo.go)",
        "node_filesystem_avail_bytes": "node-exporter, per mount point "
        "(prometheus/node_exporter collector/filesystem_common.go)",
        "node_filesystem_size_bytes": "node-exporter, per mount point "
        "(prometheus/node_exporter collector/filesystem_common.go)",
        "node_filesystem_readonly": "node-exporter, per mount point "
        "(prometheus/node_exporter collector/filesystem_common.go)",
        "DCGM_FI_DEV_FB_USED": "NVIDIA dcgm-exporter, framebuffer MiB used, per GPU "
        "(NVIDIA/dcgm-exporter etc/default-counters.csv)",
        "DCGM_FI_DEV_FB_FREE": "NVIDIA dcgm-exporter, framebuffer MiB free, per GPU "
        "(NVIDIA/dcgm-exporter etc/default-counters.csv)",
        "DCGM_FI_DEV_GPU_UTIL": "NVIDIA dcgm-exporter, GPU utilisation in percent, per GPU "
        "(NVIDIA/dcgm-exporter etc/default-counters.csv)",
    }
)
