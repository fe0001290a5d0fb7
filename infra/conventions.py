"""Names the whole platform agrees on: components, ports, jobs, labels, alerts, uids.

One home for every name that crosses a boundary (a scrape job a rule selects, a
datasource uid a dashboard references, an alert name a runbook is filed under),
so the renderers, the dashboards, the Pulumi components and the tests cannot
drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Component(StrEnum):
    SERVING = "serving"
    MLFLOW = "mlflow"
    PROMETHEUS = "prometheus"
    PUSHGATEWAY = "pushgateway"
    ALERTMANAGER = "alertmanager"
    OTEL_COLLECTOR = "otel-collector"
    LOKI = "loki"
    TEMPO = "tempo"
    GRAFANA = "grafana"
    # The guarded automatic rollback (service.rollback): runs only when the spec enables it.
    ROLLBACK = "rollback"
    # Saturation collectors: what the machines under the platform are doing.
    NODE_EXPORTER = "node-exporter"
    CADVISOR = "cadvisor"
    KUBE_STATE_METRICS = "kube-state-metrics"
    DCGM_EXPORTER = "dcgm-exporter"


COLLECTORS: Final = frozenset(
    {
        Component.NODE_EXPORTER,
        Component.CADVISOR,
        Component.KUBE_STATE_METRICS,
        Component.DCGM_EXPORTER,
    }
)

# Named ports of each component; "http" is the one Prometheus scrapes unless
# SCRAPE_PORT says otherwise.
PORTS: Final[dict[Component, dict[str, int]]] = {
    Component.SERVING: {"http": 3000},
    Component.MLFLOW: {"http": 5000},
    Component.PROMETHEUS: {"http": 9090},
    Component.PUSHGATEWAY: {"http": 9091},
    Component.ALERTMANAGER: {"http": 9093, "cluster": 9094},
    Component.OTEL_COLLECTOR: {
        "otlp-grpc": 4317,
        "otlp-http": 4318,
        "metrics": 8888,
        "health": 13133,
    },
    Component.LOKI: {"http": 3100, "grpc": 9095},
    Component.TEMPO: {"http": 3200, "otlp-grpc": 4317, "grpc": 9095},
    Component.GRAFANA: {"http": 3000},
    Component.ROLLBACK: {"http": 9097},
    Component.NODE_EXPORTER: {"http": 9100},
    Component.CADVISOR: {"http": 8080},
    Component.KUBE_STATE_METRICS: {"http": 8080, "telemetry": 8081},
    Component.DCGM_EXPORTER: {"http": 9400},
}
SCRAPE_PORT: Final[dict[Component, str]] = dict.fromkeys(Component, "http") | {
    Component.OTEL_COLLECTOR: "metrics",
}
# Scrape job names are the component names; rules select on them.
JOB: Final[dict[Component, str]] = {c: c.value for c in Component}
# The kubelet, scraped through the API server's node proxy (Kubernetes only): its own
# /metrics (volume stats) and /metrics/resource (node CPU and memory). Its /metrics/cadvisor
# is scraped as job `cadvisor`, the job docker's cAdvisor container has, so one query reads
# container figures on both targets.
KUBELET_JOB: Final = "kubelet"
KUBELET_RESOURCE_JOB: Final = "kubelet-resource"
# The label every saturation series carries: the platform component it is about, derived at
# scrape time from the container, pod, workload or volume name.
COMPONENT_LABEL: Final = "component"


@dataclass(frozen=True)
class HostAccess:
    """What one collector may reach on its host, and nothing more: read-only host paths (host
    path -> path in the container), the host's PID and network namespaces, GPU devices."""

    paths: tuple[tuple[str, str], ...] = ()
    pid: bool = False
    network: bool = False
    gpus: bool = False
    root: bool = False  # runs as root: what it reads is root's only


# The one exception to "no host access": the collectors whose purpose is to read the host.
# The workload plans mount exactly these, the Kubernetes target runs them in their own
# namespace at the `privileged` Pod Security level, and the policy pack allows exactly
# these to exactly these components (by label and image) and refuses host access elsewhere.
HOST_ACCESS: Final[dict[Component, HostAccess]] = {
    # node-exporter's documented deployment: host PID and network, the root filesystem
    # read-only at /host/root, /proc and /sys at /host/proc and /host/sys.
    Component.NODE_EXPORTER: HostAccess(
        paths=(("/proc", "/host/proc"), ("/sys", "/host/sys"), ("/", "/host/root")),
        pid=True,
        network=True,
    ),
    # cAdvisor's documented docker mounts, all read-only; docker's state is root's only.
    Component.CADVISOR: HostAccess(
        paths=(
            ("/", "/rootfs"),
            ("/var/run", "/var/run"),
            ("/sys", "/sys"),
            ("/var/lib/docker", "/var/lib/docker"),
            ("/dev/disk", "/dev/disk"),
        ),
        root=True,
    ),
    # NVIDIA's DCGM exporter reads the GPUs through the driver, and (Kubernetes) the kubelet's
    # pod-resources socket to name the pod using each GPU.
    Component.DCGM_EXPORTER: HostAccess(
        paths=(("/var/lib/kubelet/pod-resources", "/var/lib/kubelet/pod-resources"),),
        gpus=True,
        root=True,
    ),
}
# The extended resource a served model requests GPUs by.
GPU_RESOURCE: Final = "nvidia.com/gpu"

# Kubernetes recommended labels; the Prometheus pod discovery selects on them too.
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_PART_OF: Final = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_MODEL: Final = "mlops.dev/model"
PART_OF: Final = "mlops-observability"

# Label names on metrics and alerts.
MODEL_LABEL: Final = "model"
MODEL_VERSION_LABEL: Final = "model_version"
SEVERITY_LABEL: Final = "severity"
# What every alert tells its reader (infra.alerts.model writes them, the policy pack asks for them).
SUMMARY_ANNOTATION: Final = "summary"
DESCRIPTION_ANNOTATION: Final = "description"
RUNBOOK_ANNOTATION: Final = "runbook_url"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"
    # SLO burn-rate alerts (Sloth's naming): page wakes someone, ticket waits for office hours.
    PAGE = "page"
    TICKET = "ticket"


PLATFORM_SEVERITIES: Final = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
SLO_SEVERITIES: Final = (Severity.PAGE, Severity.TICKET)


class Alert(StrEnum):
    """Every platform alert. CamelCase, prefixed with the component it is about."""

    TARGET_DOWN = "PlatformTargetDown"
    SERVING_HIGH_ERROR_RATIO = "ServingHighErrorRatio"
    SERVING_HIGH_LATENCY_P95 = "ServingHighLatencyP95"
    SERVING_MODEL_NOT_LOADED = "ServingModelNotLoaded"
    SERVING_LOW_CONFIDENCE = "ServingLowPredictionConfidence"
    SERVING_FEATURE_DRIFT = "ServingFeatureDrift"
    SERVING_LOW_ACCURACY = "ServingLowAccuracy"
    SERVING_LOW_ESTIMATED_ACCURACY = "ServingLowEstimatedAccuracy"
    TRAINING_MODEL_STALE = "TrainingModelStale"
    TRAINING_JOB_FAILED = "TrainingJobFailed"
    PUSHGATEWAY_JOB_STALE = "PushgatewayJobStale"
    PROMETHEUS_RULE_FAILURES = "PrometheusRuleEvaluationFailures"
    # Cardinality: a target nearing, then over, its job's sample_limit (infra.budgets).
    PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT = "PrometheusTargetNearSampleLimit"
    PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT = "PrometheusTargetOverSampleLimit"
    ALERTMANAGER_NOTIFICATIONS_FAILING = "AlertmanagerNotificationsFailing"
    # Saturation (the resource collectors); each carries the `component` label it concerns.
    CONTAINER_MEMORY_NEAR_LIMIT = "PlatformContainerMemoryNearLimit"
    CONTAINER_CPU_THROTTLED = "PlatformContainerCpuThrottled"
    CONTAINER_RESTARTING = "PlatformContainerRestarting"
    CONTAINER_CRASH_LOOPING = "PlatformContainerCrashLooping"
    POD_NOT_READY = "PlatformPodNotReady"
    REPLICAS_MISMATCH = "PlatformWorkloadReplicasMismatch"
    VOLUME_FILLING_UP = "PlatformVolumeFillingUp"
    PROMETHEUS_TSDB_NEAR_RETENTION_SIZE = "PrometheusTsdbNearRetentionSize"
    NODE_FILESYSTEM_FILLING_UP = "NodeFilesystemFillingUp"
    NODE_MEMORY_LOW = "NodeMemoryLow"
    NODE_PRESSURE = "NodePressure"
    SERVING_GPU_MEMORY_NEAR_FULL = "ServingGpuMemoryNearFull"
    SERVING_GPU_SATURATED = "ServingGpuSaturated"
    # Always firing: its arrival at the heartbeat receiver says the alerting path works.
    WATCHDOG = "PlatformWatchdog"


class LogAlert(StrEnum):
    """Alerts on logs, evaluated by Grafana (on Loki) rather than Prometheus."""

    SERVING_ERROR_LOG_SPIKE = "ServingErrorLogSpike"


# The receiver the Watchdog goes to when a stack names no heartbeat receiver: it has no
# integration, so the alert is visible in Alertmanager and reaches nobody.
WATCHDOG_DISCARD_RECEIVER: Final = "platform-watchdog-discard"
# The rollback service's webhook receiver (only when the spec enables the rollback).
ROLLBACK_RECEIVER: Final = "platform-rollback"

ALERT_NAME_RE: Final = re.compile(r"^[A-Z][a-zA-Z0-9]+$")

# Sloth-compatible SLO rule names and labels, so Sloth's dashboards work unchanged.
SLO_ERROR_RATIO_RECORD: Final = "slo:sli_error:ratio_rate{window}"
SLO_OBJECTIVE_RECORD: Final = "slo:objective:ratio"
SLO_ERROR_BUDGET_RECORD: Final = "slo:error_budget:ratio"
SLO_PERIOD_DAYS_RECORD: Final = "slo:time_period:days"
SLO_CURRENT_BURN_RECORD: Final = "slo:current_burn_rate:ratio"
SLO_PERIOD_BURN_RECORD: Final = "slo:period_burn_rate:ratio"
SLO_BUDGET_REMAINING_RECORD: Final = "slo:period_error_budget_remaining:ratio"
SLO_INFO_RECORD: Final = "sloth_slo_info"
# Recording rules that keep the serving alerts and panels cheap as models grow (the mixins'
# naming, level:metric:operation). bench/scale.py measured why: at 100 models x 3 replicas a
# Serving RED latency panel summed ~21,000 bucket series at every step, 1.7-2.5 s a query.
SERVING_RECORDINGS_GROUP: Final = "mlops-serving-recordings"
REQUESTS_RECORD: Final = "model_code:bentoml_service_request_total:rate{window}"
LATENCY_BUCKETS_RECORD: Final = (
    "model_le:bentoml_service_request_duration_seconds_bucket:rate{window}"
)
SLO_ID_LABEL: Final = "sloth_id"
SLO_SERVICE_LABEL: Final = "sloth_service"
SLO_NAME_LABEL: Final = "sloth_slo"
SLO_WINDOW_LABEL: Final = "sloth_window"
SLO_WINDOW_PLACEHOLDER: Final = "{{.window}}"

# Grafana uids: stable, so dashboards can reference datasources and folders by uid.
# Folder uids must differ from every dashboard uid: Grafana keeps both in one namespace.
DATASOURCE_UID: Final[dict[str, str]] = {
    "prometheus": "mlops-prometheus",
    "loki": "mlops-loki",
    "tempo": "mlops-tempo",
    "alertmanager": "mlops-alertmanager",
}
FOLDER_UID: Final[dict[str, str]] = {
    "serving": "mlops-folder-serving",
    "slo": "mlops-folder-slo",
    "platform": "mlops-folder-platform",
}

# Rendered file names, shared by the render command, the components and the tests.
PROMETHEUS_CONFIG: Final = "prometheus.yml"
PLATFORM_RULES: Final = "rules/platform-alerts.yml"
SLO_RULES: Final = "rules/slo.yml"
ALERTMANAGER_CONFIG: Final = "alertmanager.yml"
OTEL_COLLECTOR_CONFIG: Final = "otel-collector.yaml"
LOKI_CONFIG: Final = "loki.yaml"
TEMPO_CONFIG: Final = "tempo.yaml"


def camel(kebab: str) -> str:
    """`serving-availability` -> `ServingAvailability`."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", kebab) if part)


def slo_alert_names(slo_name: str) -> tuple[str, str]:
    """The page and ticket alert names of an SLO."""
    base = camel(slo_name)
    return f"{base}ErrorBudgetBurnPage", f"{base}ErrorBudgetBurnTicket"


def secret_file(directory: str, owner: str, field: str) -> str:
    """Path of one secret value mounted as a file, e.g. a receiver's webhook URL."""
    return f"{directory}/{owner}-{field}"
