"""PromQL and LogQL that alerts and dashboards share, so a panel reads the series its alert reads.

A dashboard built from its own copy of a selector drifts from the alert it is
meant to explain: it shows what the alert did not see. Alerts pass their
window, dashboards `$__rate_interval`; the rest is spelled once, here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from infra import conventions as cv
from service import catalog as m

SERVING: Final = f'job="{cv.JOB[cv.Component.SERVING]}"'
PREDICT: Final = f'{SERVING},endpoint="{m.PREDICT_ROUTE}"'
TRAINING: Final = f'job="{m.TRAINING_JOB}"'
DRIFT: Final = f'job="{m.DRIFT_JOB}"'
PROMETHEUS: Final = f'job="{cv.JOB[cv.Component.PROMETHEUS]}"'
ALERTMANAGER: Final = f'job="{cv.JOB[cv.Component.ALERTMANAGER]}"'

# Users' prediction requests: probes and /metrics are not the service's work.
REQUESTS: Final = f"{m.REQUEST_TOTAL.name}{{{PREDICT}}}"
ERRORS: Final = f'{m.REQUEST_TOTAL.name}{{{PREDICT},http_response_code=~"5.."}}'
BUCKETS: Final = f"{m.REQUEST_DURATION.name}_bucket{{{PREDICT}}}"

# The service's OpenTelemetry service.name (service.telemetry); Loki's OTLP
# ingestion turns it into the `service_name` stream label.
SERVICE_NAME: Final = "mlops-serving"
STREAM: Final = f'{{service_name="{SERVICE_NAME}"}}'
ERROR_LEVELS: Final = "error|critical"
ERROR_LINES: Final = f'{STREAM} | json | __error__="" | level=~"{ERROR_LEVELS}"'


def number(value: float | Decimal) -> str:
    """A number as PromQL reads it, exactly as written: 0.05, 1, 100, 0.0144 (never 5e-02)."""
    return format(Decimal(repr(value) if isinstance(value, float) else value).normalize(), "f")


def requests_by_code(window: str) -> str:
    """Prediction requests per second, per model and status code."""
    return f"sum by (model, http_response_code) (rate({REQUESTS}[{window}]))"


def latency_buckets(window: str) -> str:
    """Prediction requests per second in each latency bucket, per model."""
    return f"sum by (model, le) (rate({BUCKETS}[{window}]))"


# Recorded forms of the two above (infra.render.rules.recordings), over the serving alerts'
# window (alerts.servingWindow): the alerts and the Serving RED panels read these, a series
# per model (and code or bucket) instead of every replica's every status code.
def requests_recorded(window: str) -> str:
    return cv.REQUESTS_RECORD.format(window=window)


def latency_buckets_recorded(window: str) -> str:
    return cv.LATENCY_BUCKETS_RECORD.format(window=window)


def error_ratio(window: str) -> str:
    """Share of prediction requests answered with a 5xx, per model (from the recording)."""
    recorded = requests_recorded(window)
    return (
        f'sum by (model) ({recorded}{{http_response_code=~"5.."}})\n/\nsum by (model) ({recorded})'
    )


def latency_quantile(quantile: float, window: str) -> str:
    """A latency quantile per model (from the recording)."""
    return f"histogram_quantile({quantile}, {latency_buckets_recorded(window)})"


def mean_confidence(by: str, selector: str, window: str) -> str:
    confidence = m.PREDICTION_CONFIDENCE.name
    return (
        f"sum by ({by}) (rate({confidence}_sum{{{selector}}}[{window}]))\n/\n"
        f"sum by ({by}) (rate({confidence}_count{{{selector}}}[{window}]))"
    )


def estimated_accuracy(by: str, selector: str, window: str) -> str:
    """Accuracy expected from the calibrated confidence of the predictions made (CBPE)."""
    return (
        f"sum by ({by}) (rate({m.EXPECTED_CORRECT_PREDICTIONS.name}{{{selector}}}[{window}]))\n/\n"
        f"sum by ({by}) (rate({m.PREDICTIONS.name}{{{selector}}}[{window}]))"
    )


def feature_drift(by: str, selector: str) -> str:
    return f"max by ({by}) ({m.FEATURE_DRIFT_PSI.name}{{{selector}}})"


def push_age(selector: str) -> str:
    """Seconds since each batch job last pushed to the Pushgateway."""
    return f"time() - max by (job) (push_time_seconds{{{selector}}})"


def rule_failures(window: str) -> str:
    return f"increase(prometheus_rule_evaluation_failures_total{{{PROMETHEUS}}}[{window}])"


def sample_limit_ratio() -> str:
    """Each target's samples over its job's sample_limit (scrape_sample_limit: Prometheus'
    extra-scrape-metrics feature; 0, so left out, for a job without a limit)."""
    return "scrape_samples_post_metric_relabeling\n/\n(scrape_sample_limit > 0)"


def notification_failure_ratio(by: str, window: str) -> str:
    return (
        f"sum by ({by}) (rate(alertmanager_notifications_failed_total{{{ALERTMANAGER}}}[{window}]))\n"
        f"/\nsum by ({by}) (rate(alertmanager_notifications_total{{{ALERTMANAGER}}}[{window}]))"
    )


def error_log_query(window: str) -> str:
    """Error and critical log lines of the serving API over `window`, as one number."""
    return f"sum(count_over_time({ERROR_LINES} [{window}]))"


# --- Saturation: the collectors' series. Every one carries `component` (cv.COMPONENT_LABEL),
# set at scrape time (infra.render.prometheus), so a query reads the same on both targets.
C = cv.Component
CADVISOR_JOB: Final = f'job="{cv.JOB[C.CADVISOR]}"'
CADVISOR: Final = f'{CADVISOR_JOB},{cv.COMPONENT_LABEL}!=""'


def containers_of(component: cv.Component) -> str:
    """The selector of one component's containers."""
    return f'{CADVISOR_JOB},{cv.COMPONENT_LABEL}="{component}"'


KUBE_STATE: Final = f'job="{cv.JOB[C.KUBE_STATE_METRICS]}"'
KUBE_STATE_PLATFORM: Final = f'{KUBE_STATE},{cv.COMPONENT_LABEL}!=""'
NODE: Final = f'job="{cv.JOB[C.NODE_EXPORTER]}"'
KUBELET: Final = f'job="{cv.KUBELET_JOB}",{cv.COMPONENT_LABEL}!=""'
KUBELET_RESOURCE: Final = f'job="{cv.KUBELET_RESOURCE_JOB}"'
DCGM: Final = f'job="{cv.JOB[C.DCGM_EXPORTER]}"'
# One running container on either target: its component and its pod (kubernetes) or
# container name (docker); a label the target lacks is simply empty.
CONTAINER_BY: Final = f"{cv.COMPONENT_LABEL}, pod, name"
POD_BY: Final = f"{cv.COMPONENT_LABEL}, namespace, pod"
# Real filesystems only: not the kernel's, not a container's overlay.
NODE_FILESYSTEMS: Final = f'{NODE},fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs",mountpoint!=""'


def container_memory_ratio(selector: str = CADVISOR) -> str:
    """Working set over memory limit, per container (containers without a limit left out);
    `selector` narrows the containers (a dashboard's one component)."""
    return (
        f"max by ({CONTAINER_BY}) (container_memory_working_set_bytes{{{selector}}})\n/\n"
        f"max by ({CONTAINER_BY}) (container_spec_memory_limit_bytes{{{selector}}} > 0)"
    )


def cpu_throttled_ratio(window: str, selector: str = CADVISOR) -> str:
    """Share of CFS periods in which a container was throttled at its CPU limit (of the
    containers `selector` picks: every platform container by default)."""
    return (
        f"sum by ({CONTAINER_BY}) (rate(container_cpu_cfs_throttled_periods_total{{{selector}}}[{window}]))\n/\n"
        f"sum by ({CONTAINER_BY}) (rate(container_cpu_cfs_periods_total{{{selector}}}[{window}]))"
    )


def container_restarts(window: str) -> str:
    return (
        f"sum by ({POD_BY}, container) "
        f"(increase(kube_pod_container_status_restarts_total{{{KUBE_STATE_PLATFORM}}}[{window}]))"
    )


def crash_looping(window: str | None = None) -> str:
    """1 for a container waiting in CrashLoopBackOff (at any time in `window`, when given: a
    crash-looping container runs for a moment between back-offs)."""
    waiting = f'kube_pod_container_status_waiting_reason{{{KUBE_STATE_PLATFORM},reason="CrashLoopBackOff"}}'
    if window is not None:
        waiting = f"max_over_time({waiting}[{window}])"
    return f"max by ({POD_BY}, container) ({waiting})"


def pod_not_ready() -> str:
    return f'max by ({POD_BY}) (kube_pod_status_ready{{{KUBE_STATE_PLATFORM},condition="false"}})'


def replicas_missing() -> str:
    """Replicas a Deployment or StatefulSet wants and does not have available."""
    return (
        f"(kube_deployment_spec_replicas{{{KUBE_STATE_PLATFORM}}}"
        f" - kube_deployment_status_replicas_available{{{KUBE_STATE_PLATFORM}}})\nor\n"
        f"(kube_statefulset_replicas{{{KUBE_STATE_PLATFORM}}}"
        f" - kube_statefulset_status_replicas_ready{{{KUBE_STATE_PLATFORM}}})"
    )


def fills_within(available: str, capacity: str, trend: str, within_seconds: int, free: str) -> str:
    """A volume whose trend over `trend` runs out within `within_seconds`, and is already
    below the `free` share (kube-prometheus' filling-up shape)."""
    return (
        f"(\n  {available} / {capacity} < {free}\n"
        f"and\n  predict_linear({available}[{trend}], {within_seconds}) < 0\n)"
    )


def volume_available() -> tuple[str, str]:
    """A PersistentVolumeClaim's available and capacity bytes, from the kubelet."""
    return (
        f"kubelet_volume_stats_available_bytes{{{KUBELET}}}",
        f"kubelet_volume_stats_capacity_bytes{{{KUBELET}}}",
    )


def node_filesystem_available() -> tuple[str, str]:
    return (
        f"node_filesystem_avail_bytes{{{NODE_FILESYSTEMS}}}",
        f"node_filesystem_size_bytes{{{NODE_FILESYSTEMS}}}",
    )


def node_filesystem_writable() -> str:
    """The node filesystems mounted read-write (a read-only one cannot fill up)."""
    return f"node_filesystem_readonly{{{NODE_FILESYSTEMS}}} == 0"


def tsdb_retention_ratio() -> str:
    """Prometheus' blocks on disk over its retention size (the limit is 0 when unset)."""
    return (
        f"prometheus_tsdb_storage_blocks_bytes{{{PROMETHEUS}}}\n/\n"
        f"(prometheus_tsdb_retention_limit_bytes{{{PROMETHEUS}}} > 0)"
    )


def node_memory_available_ratio() -> str:
    return f"node_memory_MemAvailable_bytes{{{NODE}}}\n/\nnode_memory_MemTotal_bytes{{{NODE}}}"


def node_pressure() -> str:
    return (
        f"kube_node_status_condition{{{KUBE_STATE},"
        f'condition=~"MemoryPressure|DiskPressure|PIDPressure",status="true"}}'
    )


def gpu_memory_ratio() -> str:
    """Framebuffer memory used over total, per GPU."""
    used, free = f"DCGM_FI_DEV_FB_USED{{{DCGM}}}", f"DCGM_FI_DEV_FB_FREE{{{DCGM}}}"
    return f"{used}\n/\n({used} + {free})"


def gpu_utilization(window: str) -> str:
    """Mean GPU utilisation over `window`, 0-1 (DCGM reports percent)."""
    return f"avg_over_time(DCGM_FI_DEV_GPU_UTIL{{{DCGM}}}[{window}]) / 100"
