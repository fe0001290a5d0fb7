"""Where each component keeps its files inside its container, and who it runs as.

A renderer writes a path (a WAL folder, a secret file, a rule file) that a
workload plan must mount, and both targets must mount it in the same place:
when the path is spelled twice, the two drift and the component writes to its
read-only root filesystem. So every such path has one home, this table, and the
renderers, the workload plans (`infra.components.services`) and both targets
read it. The identity labels a target puts on a component's objects live here
too. Pure data: renderers import it, so it imports no Pulumi.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from infra import conventions as cv

C = cv.Component
NOBODY: Final = 65534  # the Prometheus images run as nobody
APP_USER: Final = 10001  # our images and Loki/Tempo/the collector
GRAFANA_USER: Final = 472
ROOT: Final = 0  # only collectors whose host access says so (cv.HOST_ACCESS)


@dataclass(frozen=True)
class Probes:
    """Where a component says it can serve (HTTP GET `ready`) and is still alive.

    `live` is a path that answers while the process runs, whatever its dependencies and its
    load; None when the component has no such path apart from its readiness one, and then
    alive is "accepts a TCP connection on the port". Liveness never reuses the readiness
    check: a pod that cannot serve for a while (a database away, a burst of load) is taken
    out of its Service, not restarted, which would add its load to the others and cascade.
    """

    ready: str
    live: str | None
    port: str = "http"  # the named port they answer on


@dataclass(frozen=True)
class Layout:
    """One component's container: user, probes, config file, data volume, secrets folder, ports."""

    component: cv.Component
    user: int
    probes: Probes
    config: str | None = None  # the rendered config file's path
    data_dir: str | None = None  # where the persistent volume is mounted
    secrets_dir: str | None = None  # where secret values are mounted as files

    @property
    def ports(self) -> Mapping[str, int]:
        return cv.PORTS[self.component]

    @property
    def config_dir(self) -> str:
        assert self.config is not None, f"{self.component} has no rendered config"
        return posixpath.dirname(self.config)

    def beside_config(self, relative: str) -> str:
        """A rendered file the config names relative to its own folder (Prometheus rules)."""
        return f"{self.config_dir}/{relative}"

    def data(self, *parts: str) -> str:
        """A path under the data volume."""
        assert self.data_dir is not None, f"{self.component} has no data volume"
        return "/".join((self.data_dir, *parts))

    def secret(self, *name: str) -> str:
        """A secret file: `secret("hook", "url")` is `<secrets_dir>/hook-url`."""
        assert self.secrets_dir is not None, f"{self.component} has no secrets folder"
        return f"{self.secrets_dir}/{'-'.join(name)}"


LAYOUT: Final[Mapping[cv.Component, Layout]] = {
    C.PROMETHEUS: Layout(
        C.PROMETHEUS,
        NOBODY,
        Probes("/-/ready", "/-/healthy"),
        config="/etc/prometheus/prometheus.yml",
        data_dir="/prometheus",
        secrets_dir="/etc/prometheus/secrets",
    ),
    C.PUSHGATEWAY: Layout(
        C.PUSHGATEWAY, NOBODY, Probes("/-/ready", "/-/healthy"), data_dir="/data"
    ),
    C.ALERTMANAGER: Layout(
        C.ALERTMANAGER,
        NOBODY,
        Probes("/-/ready", "/-/healthy"),
        config="/etc/alertmanager/alertmanager.yml",
        data_dir="/alertmanager",
        secrets_dir="/etc/alertmanager/secrets",
    ),
    C.OTEL_COLLECTOR: Layout(
        C.OTEL_COLLECTOR,
        APP_USER,
        Probes("/", None, port="health"),
        config="/etc/otelcol-contrib/config.yaml",
    ),
    # Loki's data folder is the image's own; its /ready flaps while the ring settles.
    C.LOKI: Layout(
        C.LOKI,
        APP_USER,
        Probes("/ready", "/metrics"),
        config="/etc/loki/loki.yaml",
        data_dir="/loki",
    ),
    C.TEMPO: Layout(
        C.TEMPO,
        APP_USER,
        Probes("/ready", "/metrics"),
        config="/etc/tempo/tempo.yaml",
        data_dir="/var/tempo",
    ),
    C.MLFLOW: Layout(
        C.MLFLOW,
        APP_USER,
        Probes("/health", None),
        data_dir="/mlflow",
        secrets_dir="/etc/mlflow/secrets",
    ),
    C.SERVING: Layout(C.SERVING, APP_USER, Probes("/readyz", "/livez")),
    C.ROLLBACK: Layout(
        C.ROLLBACK, APP_USER, Probes("/readyz", "/livez"), secrets_dir="/etc/rollback/secrets"
    ),
    C.NODE_EXPORTER: Layout(C.NODE_EXPORTER, NOBODY, Probes("/", None)),
    C.CADVISOR: Layout(C.CADVISOR, ROOT, Probes("/healthz", None)),
    C.KUBE_STATE_METRICS: Layout(
        C.KUBE_STATE_METRICS, NOBODY, Probes("/readyz", "/livez", port="telemetry")
    ),
    C.DCGM_EXPORTER: Layout(C.DCGM_EXPORTER, ROOT, Probes("/health", None)),
    C.GRAFANA: Layout(
        C.GRAFANA,
        GRAFANA_USER,
        Probes("/api/health", None),
        data_dir="/var/lib/grafana",
        secrets_dir="/etc/grafana/secrets",
    ),
}


def of(component: cv.Component) -> Layout:
    return LAYOUT[component]


def identity_labels(component: cv.Component, instance: str) -> dict[str, str]:
    """What selects one workload's pods or containers (and Prometheus' pod discovery)."""
    return {cv.LABEL_NAME: component.value, cv.LABEL_INSTANCE: instance}
