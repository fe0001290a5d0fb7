"""Where each component is reached: the one input renderers take besides the spec.

A renderer never spells a Docker container name or a Kubernetes Service; it asks
`Endpoints`. The Pulumi program builds them for its target with `for_spec`, and
the live test harness builds them for processes on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    # Each replica, reached on its own (scraped one by one, gossip peers, remote-written to
    # each); empty when `host` is the only instance.
    instances: tuple[Endpoint, ...] = ()
    discovery: PodDiscovery | None = None

    def address(self, port: str = "http") -> str:
        return f"{self.host}:{self.ports[port]}"

    def url(self, port: str = "http", path: str = "") -> str:
        return f"http://{self.address(port)}{path}"

    @property
    def replicas(self) -> tuple[Endpoint, ...]:
        """Every instance on its own: the replicas, or the one host."""
        return self.instances or (self,)

    def targets(self, port: str = "http") -> list[str]:
        return [i.address(port) for i in self.replicas]


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


# StatefulSets whose replicas are reached one by one on Kubernetes: Alertmanager's gossip peers,
# and the Prometheus replicas Tempo remote-writes to (each must get every sample).
PER_REPLICA = frozenset({cv.Component.PROMETHEUS, cv.Component.ALERTMANAGER})


def resource_name(spec: PlatformSpec, component: str) -> str:
    """Name of a component's workload, Service or container: `mlops-dev-prometheus`."""
    return f"{spec.name}-{component}"


def for_spec(spec: PlatformSpec) -> Endpoints:
    """Endpoints as the stack's own target names them."""
    platform: list[cv.Component] = [
        c
        for c in cv.Component
        if c is not cv.Component.SERVING
        and (c not in cv.COLLECTORS or c in spec.collectors)
        and (c is not cv.Component.ROLLBACK or spec.rollback.enabled)
    ]
    if spec.target == "docker":
        # One container per replica on one Docker network; container names resolve.
        def docker(component: str, replicas: int, ports: Mapping[str, int]) -> Endpoint:
            host = resource_name(spec, component)
            instances = tuple(Endpoint(f"{host}-{i}", ports) for i in range(replicas))
            return Endpoint(host, ports, instances if replicas > 1 else ())

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
        replicas = _replicas(spec, component)
        # A StatefulSet's pods by their stable names, through its headless Service.
        pods = tuple(
            Endpoint(f"{name}-{i}.{name}-headless.{ns}.svc", ports)
            for i in range(replicas)
            if replicas > 1 and component in PER_REPLICA
        )
        return Endpoint(f"{name}.{ns}.svc", ports, pods, discovery=PodDiscovery(ns, labels))

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
    replicas: Mapping[cv.Component, Sequence[Mapping[str, int]]] | None = None,
) -> Endpoints:
    """The given components on 127.0.0.1 with the given ports: for processes run by the tests.
    Components left out do not run, and nothing is rendered to reach them. A component in
    `replicas` runs one process per entry, each on its own ports (the first is `ports`')."""

    def endpoint(c: cv.Component, p: Mapping[str, int]) -> Endpoint:
        instances = tuple(Endpoint("127.0.0.1", r) for r in (replicas or {}).get(c, ()))
        return Endpoint("127.0.0.1", p, instances)

    return Endpoints(
        {c: endpoint(c, p) for c, p in ports.items()},
        {m: Endpoint("127.0.0.1", {"http": p}) for m, p in serving.items()},
        listen_host="127.0.0.1",
        files_root=files_root,
    )
