"""The component graph: every connection the platform's pods make, and why.

One home for who talks to whom, so the Kubernetes target's NetworkPolicies
(`infra.components.network_policy`) allow exactly these connections and
nothing else. Each flow is derived from what the renderers and the workload
plans already say, never spelled twice: Prometheus scrapes every workload the
stack runs on its component's scrape port (`cv.SCRAPE_PORT`, as the scrape
jobs do), a workload that lists pods or reads the cluster (`Workload.uses_api`)
reaches the API server, Alertmanager replicas gossip on their cluster port,
Grafana reaches the datasources `infra.components.grafana` configures, and
the outside destinations (remote write, object stores, databases, SMTP relays)
are the spec's own URLs. A new component, served model or scrape job gets its
flows without an edit here.

Peers beyond the platform's pods are addresses: the API server (it cannot be
selected by pod label), remote-write and object-store endpoints, receivers
whose URLs are secrets (so: any address on 443). The few ports people and
clients outside the platform must reach are `OPEN_TO_OUTSIDE`.
Pure data, no Pulumi resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final
from urllib.parse import urlparse

from infra import conventions as cv
from infra import layout
from infra.components.grafana import DATASOURCE_COMPONENTS
from infra.components.workload import Workload
from infra.endpoints import Endpoints
from infra.spec import EmailReceiver, PlatformSpec

C = cv.Component


class Protocol(StrEnum):
    TCP = "TCP"
    UDP = "UDP"


@dataclass(frozen=True)
class Peer:
    """One end of a flow: the pods of one workload (labels in a namespace), or, without a
    namespace, addresses beyond the pod network (the API server, the Internet)."""

    name: str
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    host_network: bool = False  # its pods have their node's address, not a pod's

    @property
    def is_address(self) -> bool:
        return self.namespace is None

    @property
    def selector(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Flow:
    """One connection: `source` opens it to `destination` on `port` (`port_name` of the
    destination's named ports, when it has one) over `protocol`, for the reason `why`."""

    source: Peer
    destination: Peer
    port: int
    protocol: Protocol
    why: str
    port_name: str | None = None


# Addresses, not pods: a NetworkPolicy reaches them by ipBlock.
ANYWHERE: Final = Peer("any address")
API_SERVER: Final = Peer("the Kubernetes API server")
# kubernetes_sd, and the kubelets through the API server's node proxy, go to
# kubernetes.default.svc:443, which most clusters forward to the API server's 6443; a
# policy sees the forwarded port on some network plugins, the Service's on others.
API_SERVER_PORTS: Final = (443, 6443)
# The cluster's DNS pods (CoreDNS keeps kube-dns' label); every pod resolves Service names.
DNS: Final = Peer("the cluster DNS", "kube-system", (("k8s-app", "kube-dns"),))
DNS_PORT: Final = 53
# Receiver URLs (webhook, Slack, PagerDuty) are secrets the program never reads: their
# hosts are unknown, so notifications may go to any address on HTTPS's port.
RECEIVER_PORT: Final = 443
DEFAULT_PORTS: Final = {"https": 443, "http": 80}
# The only ports reachable from outside the platform (any address, other namespaces),
# each with the reason it is open. Everything else is reached by the platform alone
# (`kubectl port-forward` for a person: it enters through the kubelet, not the network).
OPEN_TO_OUTSIDE: Final[Mapping[C, Mapping[str, str]]] = {
    C.SERVING: {"http": "clients call the served models' prediction API"},
    C.GRAFANA: {"http": "people read the dashboards; the Grafana provider manages its content"},
    C.MLFLOW: {"http": "training jobs log runs, upload artifacts and register models"},
    C.PUSHGATEWAY: {"http": "batch jobs (training, evaluation) push their metrics"},
    C.OTEL_COLLECTOR: {
        "otlp-grpc": "applications send traces and logs (OTLP over gRPC)",
        "otlp-http": "applications send traces and logs (OTLP over HTTP)",
    },
}
# Calls between components besides the scrapes: (client, server, server's port name, why).
CALLS: Final[tuple[tuple[C, C, str, str], ...]] = (
    (C.PROMETHEUS, C.ALERTMANAGER, "http", "Prometheus sends its alerts"),
    (C.SERVING, C.OTEL_COLLECTOR, "otlp-grpc", "serving exports traces and logs (OTLP)"),
    (C.SERVING, C.MLFLOW, "http", "serving resolves its model alias and downloads the model"),
    (C.OTEL_COLLECTOR, C.LOKI, "http", "the collector forwards logs (OTLP over HTTP)"),
    (C.OTEL_COLLECTOR, C.TEMPO, "otlp-grpc", "the collector forwards traces (OTLP gRPC)"),
    (C.ALERTMANAGER, C.ROLLBACK, "http", "Alertmanager notifies the rollback service"),
    (C.ROLLBACK, C.MLFLOW, "http", "the rollback service reads and moves the model alias"),
    (C.ROLLBACK, C.PUSHGATEWAY, "http", "the rollback service pushes the deployment event"),
    *(
        (C.GRAFANA, component, "http", f"Grafana's {kind} datasource")
        for kind, component in DATASOURCE_COMPONENTS.items()
    ),
)


def namespace_of(w: Workload, spec: PlatformSpec) -> str:
    return w.namespace or spec.kubernetes.namespace


def peer(w: Workload, spec: PlatformSpec) -> Peer:
    """A workload's pods, selected by its identity labels (what its controller selects)."""
    labels = tuple(sorted(layout.identity_labels(w.component, w.name).items()))
    network = w.host is not None and w.host.network
    return Peer(w.name, namespace_of(w, spec), labels, network)


def url_port(url: str) -> int:
    parsed = urlparse(url)
    return parsed.port or DEFAULT_PORTS[parsed.scheme]


def host_port(address: str, default: int) -> int:
    """The port of `host[:port]` (an S3 endpoint, an SMTP relay), else `default`."""
    _, _, port = address.rpartition(":")
    return int(port) if ":" in address and port.isdigit() else default


class _Graph:
    """The workloads of one stack as peers, and the flows between them."""

    def __init__(self, spec: PlatformSpec, endpoints: Endpoints, workloads: Sequence[Workload]):
        self.spec = spec
        self.endpoints = endpoints
        self.workloads = list(workloads)
        self.peers = {w.name: peer(w, spec) for w in workloads}

    def of(self, component: C) -> list[Workload]:
        return [w for w in self.workloads if w.component is component]

    def flow(self, source: Workload, destination: Workload, port: str, why: str) -> Flow:
        return Flow(
            self.peers[source.name],
            self.peers[destination.name],
            destination.ports[port],
            Protocol.TCP,
            why,
            port,
        )

    def outbound(self, source: Workload, ports: Iterable[int], why: str) -> Iterator[Flow]:
        for port in ports:
            yield Flow(self.peers[source.name], ANYWHERE, port, Protocol.TCP, why)


def _scrapes(g: _Graph) -> Iterator[Flow]:
    """Prometheus scrapes every workload (itself too) on its component's scrape port."""
    for prometheus in g.of(C.PROMETHEUS):
        for w in g.workloads:
            job = cv.JOB[w.component]
            yield g.flow(prometheus, w, cv.SCRAPE_PORT[w.component], f"Prometheus scrapes {job}")


def _calls(g: _Graph) -> Iterator[Flow]:
    for client_component, server_component, port, why in CALLS:
        for client in g.of(client_component):
            for server in g.of(server_component):
                # The port the renderers give the client (endpoints), on the server's pods.
                assert g.endpoints[server_component].ports[port] == server.ports[port]
                yield g.flow(client, server, port, why)
    if g.spec.tempo.metrics_generator:
        for tempo in g.of(C.TEMPO):
            for prometheus in g.of(C.PROMETHEUS):
                why = "Tempo's metrics generator remote-writes span metrics"
                yield g.flow(tempo, prometheus, "http", why)


def _gossip(g: _Graph) -> Iterator[Flow]:
    """Replicas that form a cluster (Alertmanager's memberlist: TCP and UDP) reach each other."""
    for w in g.workloads:
        if w.cluster_port is None:
            continue
        for protocol in Protocol:
            yield replace(
                g.flow(w, w, w.cluster_port, f"{w.component} replicas gossip (memberlist)"),
                protocol=protocol,
            )


def _api(g: _Graph) -> Iterator[Flow]:
    """Workloads that list pods or read the cluster (kubernetes_sd, the kubelets through the
    node proxy, kube-state-metrics) call the API server."""
    for w in g.workloads:
        if w.uses_api:
            for port in API_SERVER_PORTS:
                why = f"{w.component} reads the Kubernetes API"
                yield Flow(g.peers[w.name], API_SERVER, port, Protocol.TCP, why)


def _smarthost_ports(receivers: Iterable[object]) -> list[int]:
    return sorted({host_port(r.smarthost, 25) for r in receivers if isinstance(r, EmailReceiver)})


def _notifications(g: _Graph) -> Iterator[Flow]:
    """Alertmanager (and Grafana's contact points, the same receivers) notify outside."""
    receivers = g.spec.alertmanager.receivers
    https = any(r.kind in {"webhook", "slack", "pagerduty"} for r in receivers)
    email = [r for r in receivers if isinstance(r, EmailReceiver)]
    for w in g.of(C.ALERTMANAGER):
        yield from g.outbound(w, [RECEIVER_PORT] if https else [], "notifications (receivers)")
        yield from g.outbound(w, _smarthost_ports(email), "e-mail notifications (SMTP relay)")
    for w in g.of(C.GRAFANA):
        yield from g.outbound(w, [RECEIVER_PORT] if https else [], "contact points (receivers)")
        # Grafana sends e-mail through the first e-mail receiver's relay (its SMTP settings).
        yield from g.outbound(w, _smarthost_ports(email[:1]), "e-mail (SMTP relay)")


def _stores(g: _Graph) -> Iterator[Flow]:
    """Remote write, object stores and databases the spec names, beyond the platform."""
    spec = g.spec
    for w in g.of(C.PROMETHEUS):
        for rw in spec.prometheus.remote_write:
            yield from g.outbound(w, [url_port(str(rw.url))], f"remote write to {rw.name}")
    for component, storage in ((C.LOKI, spec.loki.storage), (C.TEMPO, spec.tempo.storage)):
        if storage.kind == "s3" and storage.endpoint:
            port = host_port(storage.endpoint, DEFAULT_PORTS["https"])
            for w in g.of(component):
                yield from g.outbound(w, [port], f"{component} object storage (S3)")
    backend, artifacts = spec.mlflow.backend_store, spec.mlflow.artifact_store
    for w in g.of(C.MLFLOW):
        if backend.kind == "postgresql":
            yield from g.outbound(w, [backend.port], "MLflow's backend store (PostgreSQL)")
        if artifacts.kind == "s3":
            url = str(artifacts.endpoint_url) if artifacts.endpoint_url else "https://s3"
            yield from g.outbound(w, [url_port(url)], "MLflow's artifact store (S3)")


def _dns(g: _Graph) -> Iterator[Flow]:
    for w in g.workloads:
        for protocol in Protocol:
            yield Flow(g.peers[w.name], DNS, DNS_PORT, protocol, "name resolution")


def _open(g: _Graph) -> Iterator[Flow]:
    for w in g.workloads:
        for port, why in OPEN_TO_OUTSIDE.get(w.component, {}).items():
            yield Flow(ANYWHERE, g.peers[w.name], w.ports[port], Protocol.TCP, why, port)


def _merged(found: Iterable[Flow]) -> list[Flow]:
    """One flow per (source, destination, port, protocol), its reasons joined."""
    merged: dict[tuple[Peer, Peer, int, Protocol], Flow] = {}
    for f in found:
        key = (f.source, f.destination, f.port, f.protocol)
        if key in merged and f.why not in merged[key].why.split("; "):
            merged[key] = replace(merged[key], why=f"{merged[key].why}; {f.why}")
        merged.setdefault(key, f)
    return list(merged.values())


def flows(spec: PlatformSpec, endpoints: Endpoints, workloads: Sequence[Workload]) -> list[Flow]:
    """Exactly the connections the stack's workloads make (Kubernetes target)."""
    g = _Graph(spec, endpoints, workloads)
    parts = (_scrapes, _calls, _gossip, _api, _notifications, _stores, _dns, _open)
    return _merged(f for part in parts for f in part(g))
