"""Resources: what each platform component uses of what it was given, and what is left under it.

Saturation, per component: CPU used against its request (kube-state-metrics,
Kubernetes) and its limit (cAdvisor's CFS quota, where one is set), memory
working set against its limit, network; on Kubernetes, restarts, readiness and
the fill of each volume claim (the kubelet). Then the nodes (node-exporter, or
the kubelet's resource metrics where node-exporter does not run), the GPUs when
a served model has them, and Prometheus' own TSDB against its retention size.

The dashboard is built from the collectors the stack runs (`PlatformSpec.collectors`,
`kubelet_scraped`, `gpus`): a panel whose source the stack does not scrape is
left out, not drawn empty. Container series carry `component` on both targets
(`infra.render.saturation`), so one query reads docker's cAdvisor and the
kubelet's. The dashed lines are where the saturation alerts fire, from the
stack's thresholds (`alerts.*`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from grafana_foundation_sdk.builders import dashboard, timeseries
from grafana_foundation_sdk.models import dashboard as model

from dashboards import panels as p
from infra import conventions as cv
from infra import queries as q
from infra.spec import PlatformSpec, Resources

UID = "mlops-resources"
FOLDER = cv.FOLDER_UID["platform"]
TITLE = "Resources"

C = cv.Component
RATE = "$__rate_interval"
COMPONENT = f"{{{{{cv.COMPONENT_LABEL}}}}}"

Panels = list[timeseries.Panel]


def link() -> dashboard.DashboardLink:
    """A link to this dashboard, for the dashboards whose saturation it explains."""
    return (
        dashboard.DashboardLink(TITLE)
        .type(model.DashboardLinkType.LINK)
        .url(f"/d/{UID}")
        .icon("dashboard")
        .tooltip("CPU, memory, restarts, volumes, nodes and GPUs of each platform component")
        .as_dropdown(False)
        .target_blank(False)
        .include_vars(False)
        .keep_time(True)
    )


# --- What the stack scrapes.


def kube_state(spec: PlatformSpec) -> bool:
    return C.KUBE_STATE_METRICS in spec.collectors


def resources_of(spec: PlatformSpec) -> list[Resources]:
    """The requests and limits of every component the spec sizes, served models included."""
    parts = [
        *(getattr(spec, name) for name in type(spec).model_fields),
        *spec.serving.models,
        *(getattr(spec.saturation, name) for name in type(spec.saturation).model_fields),
    ]
    return [r for part in parts if isinstance(r := getattr(part, "resources", None), Resources)]


def cpu_limited(spec: PlatformSpec, resources: Iterable[Resources]) -> bool:
    """Whether cAdvisor reports CFS quota and throttling for some of these containers: the
    Kubernetes target sets `cpuLimit`; the docker target sets memory limits only."""
    return spec.target == "kubernetes" and any(r.cpu_limit for r in resources)


def containers(spec: PlatformSpec, component: C | None = None) -> str:
    """cAdvisor series, one per running container (the scrape drops the kubelet's pod-level
    cgroups, which would count a pod twice); of one component when given."""
    return q.CADVISOR if component is None else q.containers_of(component)


def replica(spec: PlatformSpec) -> str:
    """What names one container in a legend: its pod (kubernetes; the kubelet's `name` is a
    container id) or its docker container name."""
    return "{{pod}}" if spec.target == "kubernetes" else "{{name}}"


def per_component(expr: str) -> str:
    return f"sum by ({cv.COMPONENT_LABEL}) ({expr})"


def requested(resource: str) -> str:
    """What each component's containers request (kube-state-metrics)."""
    return per_component(
        f'kube_pod_container_resource_requests{{{q.KUBE_STATE_PLATFORM},resource="{resource}"}}'
    )


def line(value: float | Decimal) -> float:
    """A threshold of the stack, as a dashed line draws it."""
    return p.number(value)


def tile(panels: Panels) -> Panels:
    """Half-width panels two by two; an odd one out takes the whole width."""
    if len(panels) % 2:
        panels[-1] = panels[-1].span(p.FULL)
    return panels


# --- Containers.


def cpu(spec: PlatformSpec) -> timeseries.Panel:
    selector = containers(spec)
    panel = (
        p.timeseries_panel(
            "CPU per component (cores)",
            "CPU cores each component uses, summed over its containers and replicas. On "
            "Kubernetes also what it requests (kube-state-metrics) and, where a cpuLimit is "
            "set, its limit (CFS quota over period): above its request a component borrows "
            "idle CPU, at its limit it is throttled.",
            p.COUNT,
        )
        .min(0)
        .with_target(
            p.prom(
                per_component(f"rate(container_cpu_usage_seconds_total{{{selector}}}[{RATE}])"),
                f"{COMPONENT} used",
            )
        )
    )
    if kube_state(spec):
        panel = panel.with_target(p.prom(requested("cpu"), f"{COMPONENT} requested", ref_id="B"))
    if cpu_limited(spec, resources_of(spec)):
        limit = (
            f"container_spec_cpu_quota{{{selector}}}\n/\ncontainer_spec_cpu_period{{{selector}}}"
        )
        panel = panel.with_target(p.prom(per_component(limit), f"{COMPONENT} limit", ref_id="C"))
    return panel


def memory(spec: PlatformSpec) -> timeseries.Panel:
    selector = containers(spec)
    panel = (
        p.timeseries_panel(
            "Memory per component",
            "Working set of each component (what the kernel cannot reclaim; the OOM killer "
            "compares it with the limit) and its memory limit, summed over its containers "
            "and replicas; on Kubernetes also what it requests.",
            p.BYTES,
        )
        .min(0)
        .with_target(
            p.prom(
                per_component(f"container_memory_working_set_bytes{{{selector}}}"),
                f"{COMPONENT} working set",
            )
        )
        .with_target(
            p.prom(
                per_component(f"container_spec_memory_limit_bytes{{{selector}}} > 0"),
                f"{COMPONENT} limit",
                ref_id="B",
            )
        )
    )
    if kube_state(spec):
        panel = panel.with_target(p.prom(requested("memory"), f"{COMPONENT} requested", ref_id="C"))
    return panel


def memory_ratio(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Memory working set / limit",
            "Each container's working set over its memory limit, as the alert reads it. The "
            f"dashed line is where {cv.Alert.CONTAINER_MEMORY_NEAR_LIMIT} fires; at 100% the "
            "container is killed.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = line(spec.alerts.container_memory_ratio)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.container_memory_ratio(containers(spec)), f"{COMPONENT} {replica(spec)}")
    )


def cpu_throttled(spec: PlatformSpec, component: C | None = None) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "CPU throttled",
            "Share of CFS periods in which a container wanted more CPU than its cpuLimit "
            f"allows. The dashed line is where {cv.Alert.CONTAINER_CPU_THROTTLED} fires "
            "(over alerts.saturationWindow).",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = line(spec.alerts.cpu_throttled_ratio)
    expr = q.cpu_throttled_ratio(RATE, containers(spec, component))
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(expr, f"{COMPONENT} {replica(spec)}")
    )


def network() -> timeseries.Panel:
    def rate(direction: str) -> str:
        metric = f"container_network_{direction}_bytes_total{{{q.CADVISOR}}}"
        return per_component(f"rate({metric}[{RATE}])")

    return (
        p.timeseries_panel(
            "Network per component",
            "Bytes each component receives and sends per second, over all its interfaces and "
            "replicas.",
            p.BYTES_PER_SECOND,
        )
        .min(0)
        .with_target(p.prom(rate("receive"), f"{COMPONENT} received"))
        .with_target(p.prom(rate("transmit"), f"{COMPONENT} sent", ref_id="B"))
    )


def container_panels(spec: PlatformSpec) -> Panels:
    if not spec.containers_scraped:
        return []
    panels = [cpu(spec), memory(spec), memory_ratio(spec)]
    if cpu_limited(spec, resources_of(spec)):
        panels.append(cpu_throttled(spec))
    return [*panels, network()]


# --- Kubernetes workloads (kube-state-metrics).


def restarts(spec: PlatformSpec) -> timeseries.Panel:
    window = spec.alerts.saturation_window
    panel = p.timeseries_panel(
        f"Container restarts in {window}",
        f"Restarts of each container over the last {window} (alerts.saturationWindow). "
        f"The dashed line is where {cv.Alert.CONTAINER_RESTARTING} fires.",
        p.COUNT,
    ).min(0)
    fires_at = line(spec.alerts.max_container_restarts)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.container_restarts(window), f"{COMPONENT} {{{{pod}}}} {{{{container}}}}")
    )


def readiness() -> timeseries.Panel:
    return (
        p.timeseries_panel(
            "Replicas missing and pods not ready",
            "Replicas each Deployment or StatefulSet wants and does not have ready, and 1 for "
            f"each pod that is not ready ({cv.Alert.REPLICAS_MISMATCH}, {cv.Alert.POD_NOT_READY}"
            " fire when it lasts). Anything above 0 is capacity the platform does not have.",
            p.COUNT,
        )
        .min(0)
        .with_target(
            p.prom(q.replicas_missing(), f"{COMPONENT} {{{{deployment}}}}{{{{statefulset}}}}")
        )
        .with_target(p.prom(q.pod_not_ready(), f"{COMPONENT} {{{{pod}}}} not ready", ref_id="B"))
    )


def workload_panels(spec: PlatformSpec) -> Panels:
    return [restarts(spec), readiness()] if kube_state(spec) else []


# --- Storage.


def volumes(spec: PlatformSpec) -> timeseries.Panel:
    available, capacity = q.volume_available()
    panel = (
        p.timeseries_panel(
            "Volume claims used",
            "Share of each PersistentVolumeClaim's capacity in use, from the kubelet. Above the "
            "dashed line (less than alerts.volumeFreeRatio free), a trend that fills the volume "
            f"within alerts.volumeFullWithin fires {cv.Alert.VOLUME_FILLING_UP}.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_above = line(1 - Decimal(str(spec.alerts.volume_free_ratio)))
    return p.threshold_lines(panel, p.GREEN, (fires_above, p.ORANGE)).with_target(
        p.prom(f"1 - {available} / {capacity}", f"{COMPONENT} {{{{persistentvolumeclaim}}}}")
    )


def tsdb_size(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Prometheus TSDB size",
            "Bytes of the persisted blocks of each Prometheus and, when prometheus.retentionSize "
            "is set, that size: Prometheus deletes its oldest blocks to stay below it.",
            p.BYTES,
        )
        .min(0)
        .with_target(
            p.prom(
                f"max by (instance) (prometheus_tsdb_storage_blocks_bytes{{{q.PROMETHEUS}}})",
                "{{instance}} blocks",
            )
        )
    )
    if spec.prometheus.retention_size is None:
        return panel
    return panel.with_target(
        p.prom(
            f"max by (instance) (prometheus_tsdb_retention_limit_bytes{{{q.PROMETHEUS}}} > 0)",
            "{{instance}} retention size",
            ref_id="B",
        )
    )


def tsdb_retention(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Prometheus TSDB / retention size",
            "The blocks on disk over prometheus.retentionSize. The dashed line is where "
            f"{cv.Alert.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE} fires: near the size, history "
            "goes before retentionTime.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = line(spec.alerts.tsdb_retention_ratio)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.tsdb_retention_ratio(), "{{instance}}")
    )


def storage_panels(spec: PlatformSpec) -> Panels:
    panels = [volumes(spec)] if spec.kubelet_scraped else []
    panels.append(tsdb_size(spec))
    if spec.prometheus.retention_size is not None:
        panels.append(tsdb_retention(spec))
    return panels


# --- Nodes.


def node_label(spec: PlatformSpec) -> str:
    """What names a node: the scrape jobs' `node` label on Kubernetes, the target on docker."""
    return "node" if spec.target == "kubernetes" else "instance"


def node_cpu_busy(spec: PlatformSpec) -> timeseries.Panel:
    by = node_label(spec)
    idle = f'node_cpu_seconds_total{{{q.NODE},mode="idle"}}'
    return (
        p.timeseries_panel(
            "Node CPU busy",
            "Share of each node's CPU time spent on anything but idle (node-exporter).",
            p.RATIO,
        )
        .min(0)
        .max(1)
        .with_target(p.prom(f"1 - avg by ({by}) (rate({idle}[{RATE}]))", f"{{{{{by}}}}}"))
    )


def node_memory(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Node memory available",
            "Share of each node's memory the kernel can give without swapping (MemAvailable). "
            f"Below the dashed line {cv.Alert.NODE_MEMORY_LOW} fires.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_below = line(spec.alerts.node_memory_available_ratio)
    return p.threshold_lines(panel, p.RED, (fires_below, p.GREEN)).with_target(
        p.prom(q.node_memory_available_ratio(), f"{{{{{node_label(spec)}}}}}")
    )


def node_filesystems(spec: PlatformSpec) -> timeseries.Panel:
    available, size = q.node_filesystem_available()
    panel = (
        p.timeseries_panel(
            "Node filesystems available",
            "Share of each real filesystem of the nodes still free. Below the dashed line "
            "(alerts.volumeFreeRatio), a trend that fills it within alerts.volumeFullWithin "
            f"fires {cv.Alert.NODE_FILESYSTEM_FILLING_UP}.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_below = line(spec.alerts.volume_free_ratio)
    return p.threshold_lines(panel, p.ORANGE, (fires_below, p.GREEN)).with_target(
        p.prom(f"{available}\n/\n{size}", f"{{{{{node_label(spec)}}}}} {{{{mountpoint}}}}")
    )


def allocatable(resource: str) -> str:
    """What each node offers pods (kube-state-metrics)."""
    return f'sum by (node) (kube_node_status_allocatable{{{q.KUBE_STATE},resource="{resource}"}})'


def _kubelet_node(
    spec: PlatformSpec, about: tuple[str, str, str], used: tuple[str, str], resource: str
) -> timeseries.Panel:
    """What each node uses (query, legend), from its kubelet, against what it can allocate
    to pods; `about` is the panel's title, description and unit."""
    panel = p.timeseries_panel(*about).min(0).with_target(p.prom(*used))
    if kube_state(spec):
        panel = panel.with_target(p.prom(allocatable(resource), "{{node}} allocatable", ref_id="B"))
    return panel


def kubelet_node_cpu(spec: PlatformSpec) -> timeseries.Panel:
    used = f"rate(node_cpu_usage_seconds_total{{{q.KUBELET_RESOURCE}}}[{RATE}])"
    about = (
        "Node CPU used (cores)",
        "CPU cores each node uses, from its kubelet (node-exporter does not run here), "
        "against what it can allocate to pods.",
        p.COUNT,
    )
    return _kubelet_node(spec, about, (f"sum by (node) ({used})", "{{node}} used"), "cpu")


def kubelet_node_memory(spec: PlatformSpec) -> timeseries.Panel:
    used = f"node_memory_working_set_bytes{{{q.KUBELET_RESOURCE}}}"
    about = (
        "Node memory working set",
        "Memory each node uses that the kernel cannot reclaim, from its kubelet, against "
        "what it can allocate to pods: the kubelet evicts pods as it nears the node's size.",
        p.BYTES,
    )
    working_set = (f"max by (node) ({used})", "{{node}} working set")
    return _kubelet_node(spec, about, working_set, "memory")


def node_pressure() -> timeseries.Panel:
    return (
        p.timeseries_panel(
            "Node pressure",
            "1 while a node reports memory, disk or PID pressure (kube-state-metrics): the "
            f"kubelet evicts pods and refuses new ones; {cv.Alert.NODE_PRESSURE} fires.",
            p.NO_UNIT,
        )
        .min(0)
        .max(1)
        .with_target(
            p.prom(f"max by (node, condition) ({q.node_pressure()})", "{{node}} {{condition}}")
        )
    )


def node_panels(spec: PlatformSpec) -> Panels:
    if C.NODE_EXPORTER in spec.collectors:
        panels = [node_cpu_busy(spec), node_memory(spec), node_filesystems(spec)]
    elif spec.target == "kubernetes" and spec.kubelet_scraped:
        panels = [kubelet_node_cpu(spec), kubelet_node_memory(spec)]
    else:
        panels = []
    if kube_state(spec):
        panels.append(node_pressure())
    return panels


# --- GPUs (the DCGM exporter, when a served model requests GPUs).

GPU = "gpu {{gpu}} {{pod}}"


def gpu_memory(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "GPU memory used",
            "Share of each GPU's framebuffer memory in use. The dashed line is where "
            f"{cv.Alert.SERVING_GPU_MEMORY_NEAR_FULL} fires.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = line(spec.alerts.gpu_memory_ratio)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.gpu_memory_ratio(), GPU)
    )


def gpu_utilization(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "GPU utilisation",
            "Share of time each GPU was busy. Held above the dashed line over "
            f"alerts.saturationWindow, {cv.Alert.SERVING_GPU_SATURATED} fires.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = line(spec.alerts.gpu_utilization_ratio)
    return p.threshold_lines(panel, p.GREEN, (fires_at, p.RED)).with_target(
        p.prom(q.gpu_utilization(RATE), GPU)
    )


def gpu_panels(spec: PlatformSpec) -> Panels:
    if not spec.gpus or C.DCGM_EXPORTER not in spec.collectors:
        return []
    return [gpu_memory(spec), gpu_utilization(spec)]


# Row title -> the panels of a stack (none: the row is left out).
ROWS: tuple[tuple[str, Callable[[PlatformSpec], Panels]], ...] = (
    ("Containers", container_panels),
    ("Kubernetes workloads", workload_panels),
    ("Storage", storage_panels),
    ("Nodes", node_panels),
    ("GPUs", gpu_panels),
)


def resources_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    board = p.base(
        UID,
        TITLE,
        "Saturation of every platform component: CPU, memory, network, restarts, volumes, "
        "nodes and GPUs, from the collectors the stack runs.",
        ["platform", "resources"],
        time_from="now-6h",
        refresh="1m",
    )
    for title, panels_of in ROWS:
        panels = panels_of(spec)
        if panels:
            board = board.with_row(p.row(title))
            for panel in tile(panels):
                board = board.with_panel(panel)
    return board
