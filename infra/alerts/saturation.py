"""Saturation alerts: containers near their limits, Kubernetes objects that do not converge,
volumes and nodes running out, Prometheus' disk cap, and GPUs.

Each is rendered only where the stack runs the collector its series come from
(`PlatformSpec.collectors`, `kubelet_scraped`, `gpus`): an alert on a series no
one scrapes would stay quiet forever and look like health. Every series carries
the platform component it concerns (`cv.COMPONENT_LABEL`), set at scrape time,
so the alerts read the same on docker and Kubernetes. Queries come from
`infra.queries`, where the dashboards read them too.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from infra import conventions as cv
from infra import queries as q
from infra.alerts.model import AlertRule, spoken
from infra.alerts.platform import PROMETHEUS_GROUP
from infra.queries import number as n
from infra.spec import AlertThresholds, PlatformSpec
from infra.units import duration_seconds

GROUP = "mlops-saturation"  # the platform's containers, pods, workloads and volumes
NODE_GROUP = "mlops-nodes"
GPU_GROUP = "mlops-gpus"
A = cv.Alert
C = cv.Component
COMPONENT = f"{{{{ $labels.{cv.COMPONENT_LABEL} }}}}"
# One container on either target: its pod (kubernetes) or its container name (docker).
CONTAINER = "{{ with $labels.pod }}{{ . }}{{ else }}{{ $labels.name }}{{ end }}"
POD = "{{ $labels.namespace }}/{{ $labels.pod }}"


def percent(ratio: float) -> str:
    """0.25 -> `25%`, as a description states a threshold."""
    return f"{n(Decimal(repr(ratio)) * 100)}%"


def container_memory_near_limit(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.CONTAINER_MEMORY_NEAR_LIMIT.value,
        GROUP,
        f"{q.container_memory_ratio()}\n> {n(t.container_memory_ratio)}",
        "15m",
        cv.Severity.WARNING,
        f"{COMPONENT} container {CONTAINER} is near its memory limit.",
        f"{COMPONENT} container {CONTAINER} uses {{{{ $value | humanizePercentage }}}} of its "
        f"memory limit (threshold {percent(t.container_memory_ratio)}): the kernel OOM-kills it "
        "when it reaches the limit.",
        threshold=t.container_memory_ratio,
    )


def container_cpu_throttled(t: AlertThresholds) -> AlertRule:
    window = t.saturation_window
    return AlertRule(
        A.CONTAINER_CPU_THROTTLED.value,
        GROUP,
        f"{q.cpu_throttled_ratio(window)}\n> {n(t.cpu_throttled_ratio)}",
        "15m",
        cv.Severity.WARNING,
        f"{COMPONENT} container {CONTAINER} is throttled at its CPU limit.",
        f"{COMPONENT} container {CONTAINER} was throttled in {{{{ $value | humanizePercentage }}}} "
        f"of its CPU periods over {spoken(window)} (threshold {percent(t.cpu_throttled_ratio)}): "
        "it wants more CPU than its limit allows, and answers slower.",
        threshold=t.cpu_throttled_ratio,
    )


def container_restarting(t: AlertThresholds) -> AlertRule:
    window = t.saturation_window
    return AlertRule(
        A.CONTAINER_RESTARTING.value,
        GROUP,
        f"{q.container_restarts(window)}\n>= {t.max_container_restarts}",
        None,
        cv.Severity.WARNING,
        f"{COMPONENT} container {{{{ $labels.container }}}} in {POD} keeps restarting.",
        f"{COMPONENT} container {{{{ $labels.container }}}} in pod {POD} restarted "
        f'{{{{ printf "%.0f" $value }}}} times in {spoken(window)} (threshold '
        f"{t.max_container_restarts}): it crashes, is OOM-killed or fails its liveness probe.",
        threshold=t.max_container_restarts,
    )


def container_crash_looping(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.CONTAINER_CRASH_LOOPING.value,
        GROUP,
        f"{q.crash_looping('5m')} == 1",
        "15m",
        cv.Severity.CRITICAL,
        f"{COMPONENT} container {{{{ $labels.container }}}} in {POD} is crash looping.",
        f"{COMPONENT} container {{{{ $labels.container }}}} in pod {POD} has been in "
        "CrashLoopBackOff for 15 minutes: it exits at every start, and Kubernetes waits "
        "longer before each new try.",
    )


def pod_not_ready(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.POD_NOT_READY.value,
        GROUP,
        f"{q.pod_not_ready()} == 1",
        "15m",
        cv.Severity.WARNING,
        f"{COMPONENT} pod {POD} is not ready.",
        f"{COMPONENT} pod {POD} has not been ready for 15 minutes: its Service sends it no "
        "traffic (pending, failing its readiness probe, or restarting).",
    )


def replicas_mismatch(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.REPLICAS_MISMATCH.value,
        GROUP,
        f"(\n{q.replicas_missing()}\n) > 0",
        "15m",
        cv.Severity.WARNING,
        f"{COMPONENT} runs fewer replicas than it wants.",
        f"{COMPONENT} workload {{{{ $labels.namespace }}}}/{{{{ $labels.deployment }}}}"
        "{{ $labels.statefulset }} has been missing {{ $value }} of its replicas for 15 "
        "minutes: pods that cannot be scheduled, cannot start, or are not ready.",
    )


def node_pressure(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.NODE_PRESSURE.value,
        NODE_GROUP,
        f"{q.node_pressure()} == 1",
        "10m",
        cv.Severity.WARNING,
        "Node {{ $labels.node }} reports {{ $labels.condition }}.",
        "The kubelet of node {{ $labels.node }} has reported {{ $labels.condition }} for 10 "
        "minutes: it evicts pods and refuses new ones until the pressure goes.",
    )


def _filling_up(t: AlertThresholds, available: str, capacity: str) -> str:
    within = int(duration_seconds(t.volume_full_within))
    free = n(t.volume_free_ratio)
    return q.fills_within(available, capacity, t.volume_trend_window, within, free)


def _filling_description(t: AlertThresholds) -> str:
    return (
        f"{{{{ $value | humanizePercentage }}}} of it is free (alerting below "
        f"{percent(t.volume_free_ratio)}), and at its rate over the last "
        f"{spoken(t.volume_trend_window)} it is full within {spoken(t.volume_full_within)}"
    )


def volume_filling_up(t: AlertThresholds) -> AlertRule:
    volume = "{{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }}"
    return AlertRule(
        A.VOLUME_FILLING_UP.value,
        GROUP,
        _filling_up(t, *q.volume_available()),
        "1h",
        cv.Severity.WARNING,
        f"Volume {volume} of {COMPONENT} is filling up.",
        f"Volume {volume} of {COMPONENT}: {_filling_description(t)}; then it stops writing.",
        threshold=t.volume_free_ratio,
    )


def node_filesystem_filling_up(t: AlertThresholds) -> AlertRule:
    where = "{{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }}"
    return AlertRule(
        A.NODE_FILESYSTEM_FILLING_UP.value,
        NODE_GROUP,
        f"{_filling_up(t, *q.node_filesystem_available())}\nand\n{q.node_filesystem_writable()}",
        "1h",
        cv.Severity.WARNING,
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is filling up.",
        f"Filesystem {where}: {_filling_description(t)}; then everything writing to it fails.",
        threshold=t.volume_free_ratio,
    )


def node_memory_low(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.NODE_MEMORY_LOW.value,
        NODE_GROUP,
        f"{q.node_memory_available_ratio()}\n< {n(t.node_memory_available_ratio)}",
        "15m",
        cv.Severity.WARNING,
        "Node {{ $labels.instance }} is low on memory.",
        "Only {{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is "
        f"available (threshold {percent(t.node_memory_available_ratio)}): the kernel's OOM "
        "killer is near, and may pick any of the platform's containers.",
        threshold=t.node_memory_available_ratio,
    )


def tsdb_near_retention_size(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE.value,
        PROMETHEUS_GROUP,
        f"{q.tsdb_retention_ratio()}\n> {n(t.tsdb_retention_ratio)}",
        "30m",
        cv.Severity.WARNING,
        "Prometheus {{ $labels.instance }} nears its retention size.",
        "The TSDB blocks of {{ $labels.instance }} fill {{ $value | humanizePercentage }} of "
        f"prometheus.retentionSize (threshold {percent(t.tsdb_retention_ratio)}): past it, "
        "Prometheus deletes its oldest blocks, and history is shorter than retentionTime.",
        threshold=t.tsdb_retention_ratio,
    )


def gpu_memory_near_full(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.SERVING_GPU_MEMORY_NEAR_FULL.value,
        GPU_GROUP,
        f"{q.gpu_memory_ratio()}\n> {n(t.gpu_memory_ratio)}",
        "15m",
        cv.Severity.WARNING,
        f"GPU {{{{ $labels.gpu }}}} of {COMPONENT} is near its memory limit.",
        f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.UUID }}}}) of {COMPONENT} on "
        "{{ $labels.instance }} has {{ $value | humanizePercentage }} of its memory in use "
        f"(threshold {percent(t.gpu_memory_ratio)}): a bigger batch or a second model fails "
        "with out-of-memory.",
        threshold=t.gpu_memory_ratio,
    )


def gpu_saturated(t: AlertThresholds) -> AlertRule:
    window = t.saturation_window
    return AlertRule(
        A.SERVING_GPU_SATURATED.value,
        GPU_GROUP,
        f"{q.gpu_utilization(window)}\n> {n(t.gpu_utilization_ratio)}",
        "15m",
        cv.Severity.WARNING,
        f"GPU {{{{ $labels.gpu }}}} of {COMPONENT} is saturated.",
        f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.UUID }}}}) of {COMPONENT} on "
        "{{ $labels.instance }} was busy {{ $value | humanizePercentage }} of the time over "
        f"{spoken(window)} (threshold {percent(t.gpu_utilization_ratio)}): requests queue for "
        "it, and latency follows.",
        threshold=t.gpu_utilization_ratio,
    )


Builder = Callable[[AlertThresholds], AlertRule]


def builders(spec: PlatformSpec) -> list[Builder]:
    """The alerts whose series this stack scrapes (the DCGM exporter runs when a served model
    requests GPUs)."""
    collectors = spec.collectors
    wanted: list[tuple[bool, tuple[Builder, ...]]] = [
        (spec.containers_scraped, (container_memory_near_limit, container_cpu_throttled)),
        (
            C.KUBE_STATE_METRICS in collectors,
            (container_restarting, container_crash_looping, pod_not_ready, replicas_mismatch),
        ),
        (spec.kubelet_scraped, (volume_filling_up,)),
        (C.KUBE_STATE_METRICS in collectors, (node_pressure,)),
        (C.NODE_EXPORTER in collectors, (node_filesystem_filling_up, node_memory_low)),
        (spec.prometheus.retention_size is not None, (tsdb_near_retention_size,)),
        (C.DCGM_EXPORTER in collectors, (gpu_memory_near_full, gpu_saturated)),
    ]
    return [build for on, group in wanted if on for build in group]


def rules(spec: PlatformSpec) -> list[AlertRule]:
    return [build(spec.alerts) for build in builders(spec)]
