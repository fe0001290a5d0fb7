"""The NetworkPolicies of the Kubernetes stacks allow exactly the connections the platform makes.

The connections are read here from what the pods run with, not from
`infra.network.flows`: the rendered objects (`python -m infra.manifests`) and
the files in their ConfigMaps (scrape jobs and alerting of prometheus.yml,
the collector's exporters, Tempo's remote write, object stores), the serving
pods' OTLP and MLflow URLs, Alertmanager's peers, MLflow's stores, Grafana's
datasources and SMTP relay. A small evaluator of NetworkPolicy semantics
(pod labels, namespace, port, protocol; a connection needs the source's egress
and the destination's ingress) then proves each of them allowed, and every
other pair of platform pods and declared ports denied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from infra import conventions as cv
from infra import endpoints as ep
from infra import network
from infra.components.grafana import DATASOURCE_TYPES, datasource_url
from infra.components.kubernetes import manifest_files
from infra.components.network_policy import allow
from infra.config import ROOT
from infra.manifests import workloads
from infra.spec import PlatformSpec
from tests.conftest import gpu_spec, stack_spec
from tests.program import KUBERNETES_VERSION

NAMESPACE_LABEL = "kubernetes.io/metadata.name"
CONTROLLERS = {"Deployment", "StatefulSet", "DaemonSet"}
# What people and clients outside the platform reach, and nothing else (README, "Network
# policies"): component -> its named ports.
OPEN = {
    "serving": {"http"},
    "grafana": {"http"},
    "mlflow": {"http"},
    "pushgateway": {"http"},
    "otel-collector": {"otlp-grpc", "otlp-http"},
}
# Ports nobody inside the platform has a reason to reach outside of it (unless a flow says so).
ELSEWHERE = (22, 25, 80, 443, 587, 5432, 8080, 9000)


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int], ...] = ()
    host_network: bool = False

    @property
    def port_numbers(self) -> dict[str, int]:
        return dict(self.ports)


@dataclass(frozen=True)
class Address:
    """Not a pod: the Internet, the API server."""

    name: str


Endpoint = Pod | Address
OUTSIDE = Address("outside")
API = Address("api-server")
DNS = Pod("coredns", "kube-system", (("k8s-app", "kube-dns"),), (("dns", 53),))
Key = tuple[str, str, int, str]  # source, destination, port, protocol


@dataclass
class Cluster:
    """The rendered objects of one stack, read as a cluster would hold them."""

    objects: list[dict[str, Any]]
    pods: dict[str, Pod] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for o in self.objects:
            if o["kind"] in CONTROLLERS:
                template = o["spec"]["template"]
                container = template["spec"]["containers"][0]
                ports = tuple((p["name"], p["containerPort"]) for p in container.get("ports", []))
                self.pods[o["metadata"]["name"]] = Pod(
                    o["metadata"]["name"],
                    o["metadata"]["namespace"],
                    tuple(sorted(template["metadata"]["labels"].items())),
                    ports,
                    bool(template["spec"].get("hostNetwork")),
                )
                self.templates[o["metadata"]["name"]] = template

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    @property
    def policies(self) -> list[dict[str, Any]]:
        return self.of_kind("NetworkPolicy")

    def config(self, workload: str) -> dict[str, Any]:
        """The one rendered file of a workload's ConfigMap, parsed."""
        (cm,) = [
            o for o in self.of_kind("ConfigMap") if o["metadata"]["name"] == f"{workload}-config"
        ]
        main = [k for k in cm["data"] if not k.startswith("rules_")]
        return dict(yaml.safe_load(cm["data"][main[0]]))

    def env(self, workload: str) -> dict[str, str]:
        container = self.templates[workload]["spec"]["containers"][0]
        return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}

    def args(self, workload: str) -> list[str]:
        return list(self.templates[workload]["spec"]["containers"][0].get("args", []))

    def named(self, component: str) -> list[Pod]:
        return [p for p in self.pods.values() if dict(p.labels)[cv.LABEL_NAME] == component]

    def selected(self, namespace: str, selector: Mapping[str, str]) -> list[Pod]:
        return [
            p for p in self.pods.values()
            if p.namespace == namespace and selector.items() <= dict(p.labels).items()
        ]  # fmt: skip

    def resolve(self, host: str, port: int) -> list[tuple[Endpoint, int]]:
        """Where `host:port` leads: a Service's (or a headless Service's pod's) pods and the
        container port it targets, or an address beyond the cluster."""
        match = re.fullmatch(r"(?:[a-z0-9-]+\.)?([a-z0-9-]+)\.([a-z0-9-]+)\.svc", host)
        if not match:
            return [(OUTSIDE, port)]
        name, namespace = match.groups()
        for service in self.of_kind("Service"):
            meta = service["metadata"]
            if (meta["name"], meta["namespace"]) != (name, namespace):
                continue
            (target,) = [p["targetPort"] for p in service["spec"]["ports"] if p["port"] == port]
            pods = self.selected(namespace, service["spec"]["selector"])
            return [(p, p.port_numbers[target]) for p in pods]
        raise AssertionError(f"no Service {name} in {namespace}")

    def resolve_url(self, url: str) -> list[tuple[Endpoint, int]]:
        parsed = urlparse(url if "://" in url else f"grpc://{url}")
        default = {"https": 443, "http": 80}.get(parsed.scheme, 443)
        assert parsed.hostname
        return self.resolve(parsed.hostname, parsed.port or default)


def _name(endpoint: Endpoint) -> str:
    return endpoint.name


def _tcp(source: Pod, reached: list[tuple[Endpoint, int]]) -> Iterator[Key]:
    for destination, port in reached:
        yield source.name, _name(destination), port, "TCP"


# --- the connections, read from the rendered files ---------------------------------------------


def _scrape_targets(c: Cluster, sd: Mapping[str, Any], relabels: list[Any]) -> list[Pod]:
    selector = dict(pair.split("=", 1) for pair in sd["selectors"][0]["label"].split(","))
    ports = {int(r["regex"]) for r in relabels if r.get("action") == "keep"}
    return [
        p
        for ns in sd["namespaces"]["names"]
        for p in c.selected(ns, selector)
        if ports & set(p.port_numbers.values())
    ]


def _prometheus(c: Cluster, prometheus: Pod) -> Iterator[Key]:
    config = c.config(prometheus.name)
    jobs = [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]
    for job in jobs:
        keep = {
            int(r["regex"]) for r in job.get("relabel_configs", []) if r.get("action") == "keep"
        }
        for sd in job.get("kubernetes_sd_configs", []):
            yield prometheus.name, API.name, 443, "TCP"  # discovery lists pods and nodes
            if sd["role"] == "pod":
                for target in _scrape_targets(c, sd, job["relabel_configs"]):
                    for port in keep & set(target.port_numbers.values()):
                        yield prometheus.name, target.name, port, "TCP"
        for r in job.get("relabel_configs", []):
            if r.get("target_label") == "__address__":  # the kubelets, through the API server
                host, port = r["replacement"].rsplit(":", 1)
                assert host == "kubernetes.default.svc"
                yield prometheus.name, API.name, int(port), "TCP"
    for remote in config.get("remote_write", []):
        yield from _tcp(prometheus, c.resolve_url(remote["url"]))


def _alertmanager(c: Cluster, pod: Pod) -> Iterator[Key]:
    for arg in c.args(pod.name):
        if arg.startswith("--cluster.peer="):
            host, port = arg.removeprefix("--cluster.peer=").rsplit(":", 1)
            for peer, number in c.resolve(host, int(port)):
                yield pod.name, _name(peer), number, "TCP"
                yield pod.name, _name(peer), number, "UDP"
    for receiver in c.config(pod.name)["receivers"]:
        for email in receiver.get("email_configs", []):
            yield from _tcp(pod, c.resolve_url(email["smarthost"]))
        for hook in receiver.get("webhook_configs", []):
            if "url" in hook:  # a URL in the file (the rollback service's) is inside the platform
                yield from _tcp(pod, c.resolve_url(hook["url"]))
        secret_urls = [
            config
            for kind in ("webhook_configs", "slack_configs", "pagerduty_configs")
            for config in receiver.get(kind, [])
            if "url" not in config
        ]
        if secret_urls:
            yield pod.name, OUTSIDE.name, 443, "TCP"  # their URLs are secrets: HTTPS assumed


def _telemetry(c: Cluster, pod: Pod, component: str) -> Iterator[Key]:
    config = c.config(pod.name)
    if component == "otel-collector":
        for exporter in config["exporters"].values():
            yield from _tcp(pod, c.resolve_url(exporter["endpoint"]))
    if component == "tempo":
        generator = config.get("metrics_generator", {})
        for remote in generator.get("storage", {}).get("remote_write", []):
            yield from _tcp(pod, c.resolve_url(remote["url"]))
        s3 = config["storage"]["trace"].get("s3")
        if s3:
            yield from _tcp(pod, c.resolve_url(f"https://{s3['endpoint']}"))
    if component == "loki":
        s3 = config["common"]["storage"].get("s3")
        if s3:
            yield from _tcp(pod, c.resolve_url(f"https://{s3['endpoint']}"))


def _mlflow(c: Cluster, pod: Pod) -> Iterator[Key]:
    args = c.args(pod.name)
    backend = args[args.index("--backend-store-uri") + 1]
    if backend.startswith("postgresql://"):
        yield from _tcp(pod, c.resolve_url(backend))
    if args[args.index("--artifacts-destination") + 1].startswith("s3://"):
        endpoint = c.env(pod.name).get("MLFLOW_S3_ENDPOINT_URL", "https://s3.amazonaws.com")
        yield from _tcp(pod, c.resolve_url(endpoint))


def _grafana(c: Cluster, pod: Pod, spec: PlatformSpec, receivers: Sequence[Any]) -> Iterator[Key]:
    endpoints = ep.for_spec(spec)
    for kind in DATASOURCE_TYPES:  # what GrafanaContent declares as each datasource's url
        yield from _tcp(pod, c.resolve_url(datasource_url(kind, endpoints)))
    smtp = c.env(pod.name).get("GF_SMTP_HOST")
    if smtp:
        yield from _tcp(pod, c.resolve_url(smtp))
    kinds = {"webhook_configs", "slack_configs", "pagerduty_configs"}
    # The same receivers as contact points, but for the rollback's (Alertmanager's only).
    if any(kinds & set(r) for r in receivers if r["name"] != cv.ROLLBACK_RECEIVER):
        yield pod.name, OUTSIDE.name, 443, "TCP"


def _serving(c: Cluster, pod: Pod) -> Iterator[Key]:
    env = c.env(pod.name)
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "MLOPS_SERVING_MLFLOW_TRACKING_URI"):
        yield from _tcp(pod, c.resolve_url(env[variable]))


def _rollback(c: Cluster, pod: Pod) -> Iterator[Key]:
    env = c.env(pod.name)
    for variable in ("MLOPS_ROLLBACK_MLFLOW_TRACKING_URI", "MLOPS_ROLLBACK_PUSHGATEWAY_URL"):
        yield from _tcp(pod, c.resolve_url(env[variable]))


def _of(c: Cluster, pod: Pod, spec: PlatformSpec) -> Iterator[Key]:
    """What one pod connects to, as its own files, arguments and variables say."""
    component = dict(pod.labels)[cv.LABEL_NAME]
    yield pod.name, DNS.name, 53, "UDP"
    yield pod.name, DNS.name, 53, "TCP"
    if c.templates[pod.name]["spec"].get("automountServiceAccountToken"):
        yield pod.name, API.name, 443, "TCP"  # it lists or watches objects (kube-state-metrics)
    if component == "prometheus":
        yield from _prometheus(c, pod)
    elif component == "alertmanager":
        yield from _alertmanager(c, pod)
    elif component in ("otel-collector", "tempo", "loki"):
        yield from _telemetry(c, pod, component)
    elif component == "mlflow":
        yield from _mlflow(c, pod)
    elif component == "grafana":
        (alertmanager,) = c.named("alertmanager")
        yield from _grafana(c, pod, spec, c.config(alertmanager.name)["receivers"])
    elif component == "serving":
        yield from _serving(c, pod)
    elif component == "rollback":
        yield from _rollback(c, pod)
    for port_name in OPEN.get(component, ()):
        yield OUTSIDE.name, pod.name, pod.port_numbers[port_name], "TCP"


def connections(c: Cluster, spec: PlatformSpec) -> set[Key]:
    return {key for pod in c.pods.values() for key in _of(c, pod, spec)}


# --- a NetworkPolicy evaluator ------------------------------------------------------------------


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return True
    match = selector.get("matchLabels", {})
    assert not selector.get("matchExpressions"), "the evaluator reads matchLabels only"
    return all(labels.get(k) == v for k, v in match.items())


def _peer_matches(peer: Mapping[str, Any], endpoint: Endpoint, home: str) -> bool:
    if "ipBlock" in peer:
        # Conservative: a catch-all block matches every address, pods' and nodes' too.
        return bool(peer["ipBlock"]["cidr"].endswith("/0")) and not peer["ipBlock"].get("except")
    if not isinstance(endpoint, Pod):
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {NAMESPACE_LABEL: endpoint.namespace}):
            return False
    elif endpoint.namespace != home:
        return False
    return _selects(peer.get("podSelector"), dict(endpoint.labels))


def _port_matches(entry: Mapping[str, Any], port: int, protocol: str, target: Endpoint) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):  # a named port of the destination pod
        return isinstance(target, Pod) and target.port_numbers.get(wanted) == port
    return bool(wanted <= port <= entry.get("endPort", wanted))


def _side_allows(
    policies: Sequence[Mapping[str, Any]],
    pod: Endpoint,
    other: Endpoint,
    *,
    port: int,
    protocol: str,
    direction: str,
) -> bool:
    """Whether the policies selecting `pod` let it talk to `other` in `direction`."""
    if not isinstance(pod, Pod) or pod == DNS:
        return True  # not a platform pod: no policy of the stack selects it
    peers_key = "to" if direction == "Egress" else "from"
    target = other if direction == "Egress" else pod
    selecting = [
        p for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and _selects(p["spec"]["podSelector"], dict(pod.labels))
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]  # fmt: skip
    if not selecting:
        return True
    for policy in selecting:
        home = policy["metadata"]["namespace"]
        for rule in policy["spec"].get(direction.lower(), []):
            peers = rule.get(peers_key) or [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
            ports = rule.get("ports") or [{"protocol": protocol}]
            if any(_peer_matches(peer, other, home) for peer in peers) and any(
                _port_matches(entry, port, protocol, target) for entry in ports
            ):
                return True
    return False


def allowed(
    policies: Sequence[Mapping[str, Any]],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    out = _side_allows(
        policies, source, destination, port=port, protocol=protocol, direction="Egress"
    )
    return out and _side_allows(
        policies, destination, source, port=port, protocol=protocol, direction="Ingress"
    )


# --- the stacks --------------------------------------------------------------------------------


def every_part_spec() -> PlatformSpec:
    """staging with a GPU model (node-exporter, kube-state-metrics, the DCGM exporter), remote
    write, an e-mail receiver, S3 object stores and MLflow on PostgreSQL and S3."""
    s3 = {"kind": "s3", "bucket": "b", "endpoint": "s3.example.com"}
    receivers = [
        {"name": "hook", "kind": "webhook", "urlSecret": "hookUrl"},
        {
            "name": "mail",
            "kind": "email",
            "to": ["ml@example.com"],
            "from": "am@example.com",
            "smarthost": "smtp.example.com:2525",
        },
    ]
    return gpu_spec(
        alertmanager={"replicas": 2, "receivers": receivers, "route": {"receiver": "mail"}},
        prometheus={"remoteWrite": [{"name": "lts", "url": "https://lts.example.com:8443/push"}]},
        loki={"storage": s3},
        tempo={"storage": {**s3, "endpoint": "minio.example.com:9000"}},
        mlflow={
            "backendStore": {
                "kind": "postgresql",
                "host": "db.example.com",
                "port": 6432,
                "user": "mlflow",
                "passwordSecret": "dbPassword",
            },
            "artifactStore": {
                "kind": "s3",
                "uri": "s3://artifacts/mlflow",
                "endpointUrl": "https://objects.example.com:9443",
            },
        },
    )


SPECS = {"staging": lambda: stack_spec("staging"), "prod": lambda: stack_spec("prod")}
SPECS["every part"] = every_part_spec


@cache
def _stack(name: str) -> tuple[PlatformSpec, Cluster]:
    spec = SPECS[name]()
    files = manifest_files(workloads(spec), spec)
    return spec, Cluster([yaml.safe_load(text) for _, text in sorted(files.items())])


@pytest.fixture(params=list(SPECS))
def stack(request: pytest.FixtureRequest) -> tuple[PlatformSpec, Cluster]:
    return _stack(request.param)


def _endpoint(c: Cluster, name: str) -> Endpoint:
    others: dict[str, Endpoint] = {DNS.name: DNS, OUTSIDE.name: OUTSIDE, API.name: API}
    return others[name] if name in others else c.pods[name]


def test_every_connection_the_rendered_files_make_is_allowed(
    stack: tuple[PlatformSpec, Cluster],
) -> None:
    spec, c = stack
    wanted = connections(c, spec)
    assert len(wanted) > 40
    refused = [
        key for key in sorted(wanted)
        if not allowed(c.policies, _endpoint(c, key[0]), _endpoint(c, key[1]), key[2], key[3])
    ]  # fmt: skip
    assert refused == []


def test_every_other_pair_of_platform_pods_and_declared_ports_is_denied(
    stack: tuple[PlatformSpec, Cluster],
) -> None:
    spec, c = stack
    wanted = connections(c, spec)
    let_through = [
        (source.name, destination.name, port, protocol)
        for source in c.pods.values()
        for destination in c.pods.values()
        for _, port in destination.ports
        for protocol in ("TCP", "UDP")
        if (source.name, destination.name, port, protocol) not in wanted
        and allowed(c.policies, source, destination, port, protocol)
    ]
    assert let_through == []


def test_from_outside_only_the_documented_ports_are_open(
    stack: tuple[PlatformSpec, Cluster],
) -> None:
    _, c = stack
    reached = {
        (dict(pod.labels)[cv.LABEL_NAME], name)
        for pod in c.pods.values()
        for name, port in pod.ports
        if allowed(c.policies, OUTSIDE, pod, port)
    }
    expected = {
        (component, name)
        for component, names in OPEN.items()
        if c.named(component)
        for name in names
    }
    assert reached == expected
    assert {
        c: set(p) for c, p in network.OPEN_TO_OUTSIDE.items()
    } == OPEN  # the constant the README documents


def test_nothing_leaves_the_platform_on_a_port_no_flow_names(
    stack: tuple[PlatformSpec, Cluster],
) -> None:
    spec, c = stack
    wanted = connections(c, spec)
    let_out = [
        (pod.name, port)
        for pod in c.pods.values()
        for port in ELSEWHERE
        # The API server cannot be selected by label: reaching it opens its ports to any address.
        if not {(pod.name, OUTSIDE.name, port, "TCP"), (pod.name, API.name, port, "TCP")} & wanted
        and allowed(c.policies, pod, OUTSIDE, port)
    ]
    assert let_out == []


def test_each_namespace_with_pods_has_a_default_deny_first(
    stack: tuple[PlatformSpec, Cluster],
) -> None:
    _, c = stack
    denies = {
        p["metadata"]["namespace"]
        for p in c.policies
        if p["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    }
    assert denies == {pod.namespace for pod in c.pods.values()}
    kinds = [o["kind"] for o in c.objects]
    first_controller = min(i for i, k in enumerate(kinds) if k in CONTROLLERS)
    assert kinds.index("NetworkPolicy") < first_controller
    # Each workload's policy comes before its controller: its first pod starts fenced and able.
    names = [(o["kind"], o["metadata"]["name"]) for o in c.objects]
    for pod in c.pods.values():
        assert names.index(("NetworkPolicy", pod.name)) < min(
            i for i, (k, n) in enumerate(names) if n == pod.name and k in CONTROLLERS
        )


def test_the_policies_are_valid_for_the_cluster_release(
    stack: tuple[PlatformSpec, Cluster],
) -> None:
    _, c = stack
    for policy in c.policies:
        kubernetes_validate.validate(policy, KUBERNETES_VERSION, strict=True)


def test_the_host_network_collector_is_reached_by_address_on_its_port_alone() -> None:
    spec, c = _stack("every part")
    (node_exporter,) = c.named("node-exporter")
    assert node_exporter.host_network
    (prometheus,) = c.named("prometheus")
    (policy,) = [p for p in c.policies if p["metadata"]["name"] == prometheus.name]
    blocks = [
        rule for rule in policy["spec"]["egress"]
        if any("ipBlock" in peer for peer in rule.get("to", []))
    ]  # fmt: skip
    assert [rule["ports"] for rule in blocks] == [[{"protocol": "TCP", "port": 9100}]]
    assert spec.host_namespace == node_exporter.namespace != prometheus.namespace


def test_a_pod_with_no_flows_gets_no_policy_and_the_default_deny_holds_it() -> None:
    spec, c = _stack("prod")
    planned = workloads(spec)
    loner = planned[0]
    assert allow(loner, spec, [], {}) == []
    others = network.flows(spec, ep.for_spec(spec), planned[1:])
    assert allow(loner, spec, others, {}) == []
    pod = c.pods[loner.name]
    lonely = [p for p in c.policies if p["metadata"]["name"] != loner.name]
    for port in (*pod.port_numbers.values(), 53):
        assert not allowed(lonely, pod, DNS, port, "UDP")
        assert not allowed(lonely, OUTSIDE, pod, port)
        for other in c.pods.values():
            assert not allowed(lonely, other, pod, port)
            assert not allowed(lonely, pod, other, port)


def test_prod_flows_say_why_for_each_connection() -> None:
    spec = stack_spec("prod")
    found = network.flows(spec, ep.for_spec(spec), workloads(spec))
    assert len(found) == len({(f.source, f.destination, f.port, f.protocol) for f in found})
    assert all(f.why for f in found)
    gossip = {f.protocol for f in found if f.source == f.destination and f.port_name == "cluster"}
    assert gossip == {network.Protocol.TCP, network.Protocol.UDP}


def test_the_readme_states_prods_flow_count() -> None:
    text = re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8"))
    (count,) = re.findall(r"`flows\(\)`: (\d+) in prod", text)
    spec = stack_spec("prod")
    assert int(count) == len(network.flows(spec, ep.for_spec(spec), workloads(spec)))
