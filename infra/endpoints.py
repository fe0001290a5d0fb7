"""Where each component is reached: the one input renderers take besides the spec.

A renderer never spells a Docker container name or a Kubernetes Service; it asks
`Endpoints`. The Pulumi program builds them for its target with `for_spec`, and
the live test harness builds them for processes on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from infra import conventions as cv
from infra import layout
from infra.spec import PlatformSpec


@dataclass(frozen=True)
class PodDiscovery:
    """Prometheus finds the instances itself through the Kubernetes API (role: pod)."""

    namespace: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Endpoint:
    """One component: the host clients dial, its named ports, and how its instances are found."""

    host: str
    ports: Mapping[str, int]
    instances: tuple[str, ...] = ()  # hosts of single instances, scraped one by one
    discovery: PodDiscovery | None = None

    def address(self, port: str = "http") -> str:
        return f"{self.host}:{self.ports[port]}"

    def url(self, port: str = "http", path: str = "") -> str:
        return f"http://{self.address(port)}{path}"

    def targets(self, port: str = "http") -> list[str]:
        return [f"{h}:{self.ports[port]}" for h in (self.instances or (self.host,))]


@dataclass(frozen=True)
class Endpoints:
    components: Mapping[cv.Component, Endpoint]
    serving: Mapping[str, Endpoint] = field(default_factory=dict)  # by served model name
    # Address servers bind to inside their own container or process.
    listen_host: str = "0.0.0.0"
    # Prefix of the absolute paths files are mounted at (secrets); "" in containers, a
    # temporary folder for processes the tests run.
    files_root: str = ""

    def __getitem__(self, component: cv.Component) -> Endpoint:
        return self.components[component]

    def __contains__(self, component: object) -> bool:
        return component in self.components

    def path(self, absolute: str) -> str:
        """Where a file the containers see at `absolute` is, for whoever reads these endpoints."""
        return f"{self.files_root}{absolute}"


def _replicas(spec: PlatformSpec, component: cv.Component) -> int:
    return {
        cv.Component.PROMETHEUS: spec.prometheus.replicas,
        cv.Component.ALERTMANAGER: spec.alertmanager.replicas,
        cv.Component.OTEL_COLLECTOR: spec.otel_collector.replicas,
        cv.Component.MLFLOW: spec.mlflow.replicas,
    }.get(component, 1)


def resource_name(spec: PlatformSpec, component: str) -> str:
    """Name of a component's workload, Service or container: `mlops-dev-prometheus`."""
    return f"{spec.name}-{component}"


def for_spec(spec: PlatformSpec) -> Endpoints:
    """Endpoints as the stack's own target names them."""
    platform: list[cv.Component] = [
        c
        for c in cv.Component
        if c is not cv.Component.SERVING and (c not in cv.COLLECTORS or c in spec.collectors)
    ]
    if spec.target == "docker":
        # One container per replica on one Docker network; container names resolve.
        def docker(component: str, replicas: int, ports: Mapping[str, int]) -> Endpoint:
            host = resource_name(spec, component)
            instances = tuple(f"{host}-{i}" for i in range(replicas)) if replicas > 1 else ()
            return Endpoint(host, ports, instances)

        components = {c: docker(c.value, _replicas(spec, c), cv.PORTS[c]) for c in platform}
        serving = {
            m.name: docker(f"serving-{m.name}", m.replicas, cv.PORTS[cv.Component.SERVING])
            for m in spec.serving.models
        }
        return Endpoints(components, serving)

    namespace = spec.kubernetes.namespace

    def kube(component: cv.Component, name: str, ports: Mapping[str, int]) -> Endpoint:
        labels = layout.identity_labels(component, name)
        ns = spec.host_namespace if component in cv.HOST_ACCESS else namespace
        return Endpoint(f"{name}.{ns}.svc", ports, discovery=PodDiscovery(ns, labels))

    components = {c: kube(c, resource_name(spec, c.value), cv.PORTS[c]) for c in platform}
    serving = {
        m.name: kube(
            cv.Component.SERVING,
            resource_name(spec, f"serving-{m.name}"),
            cv.PORTS[cv.Component.SERVING],
        )
        for m in spec.serving.models
    }
    return Endpoints(components, serving)


def local(
    ports: Mapping[cv.Component, Mapping[str, int]],
    serving: Mapping[str, int],
    files_root: str = "",
) -> Endpoints:
    """The given components on 127.0.0.1 with the given ports: for processes run by the tests.
    Components left out do not run, and nothing is rendered to reach them."""
    components = {c: Endpoint("127.0.0.1", p) for c, p in ports.items()}
    return Endpoints(
        components,
        {m: Endpoint("127.0.0.1", {"http": p}) for m, p in serving.items()},
        listen_host="127.0.0.1",
        files_root=files_root,
    )
