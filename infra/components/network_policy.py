"""NetworkPolicies from the component graph (`infra.network`): the Kubernetes target's fences.

Each namespace the stack runs pods in (the platform's, and the host collectors'
when it exists) gets a default deny: every pod, ingress and egress. Then each
workload gets one policy selecting its pods (its controller's selector labels)
that allows exactly its flows: ingress from the pods that call it (by their
selector labels, with a namespace selector when they live in another
namespace), egress to what it calls. Addresses beyond the pod network (the API
server, receivers, object stores) are allowed by port alone; pods on their
node's network (node-exporter) are reached by an ipBlock, since no pod label
selects a node's address. A workload without flows gets no policy: the
default deny holds it.

Policies are enforced by the cluster's network plugin; without one they are
stored and do nothing. The docker target needs none: its containers share one
network of their own, and publish ports on loopback only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from infra import endpoints as ep
from infra import network
from infra.components.workload import Workload
from infra.network import Flow, Peer
from infra.spec import PlatformSpec

API_VERSION: Final = "networking.k8s.io/v1"
DEFAULT_DENY: Final = "default-deny"
NAMESPACE_LABEL: Final = "kubernetes.io/metadata.name"  # set by the API server on every namespace
# Node addresses are not known to the program: a host-network pod is reached at any address.
ANY_ADDRESS: Final = ({"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}})


def default_deny(namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """Every pod of the namespace: no ingress, no egress, unless another policy allows it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_DENY, "namespace": namespace, "labels": dict(labels)},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _peers(peer: Peer, home: str) -> list[dict[str, Any]]:
    """A rule's `from` or `to`: [] for any address (the rule then names ports only)."""
    if peer.is_address:
        return []
    if peer.host_network:
        return [dict(block) for block in ANY_ADDRESS]
    selected: dict[str, Any] = {"podSelector": {"matchLabels": peer.selector}}
    if peer.namespace != home:
        selected["namespaceSelector"] = {"matchLabels": {NAMESPACE_LABEL: peer.namespace}}
    return [selected]


def _rules(flows: Iterable[Flow], outbound: bool, home: str) -> list[dict[str, Any]]:
    """One rule per peer, its ports sorted; peers in the order their first flow comes."""
    ports: dict[Peer, set[tuple[str, int]]] = {}
    for f in flows:
        ports.setdefault(f.destination if outbound else f.source, set()).add(
            (f.protocol.value, f.port)
        )
    rules = []
    for peer, pairs in ports.items():
        rule: dict[str, Any] = {}
        peers = _peers(peer, home)
        if peers:
            rule["to" if outbound else "from"] = peers
        rule["ports"] = [
            {"protocol": p, "port": n} for p, n in sorted(pairs, key=lambda x: x[::-1])
        ]
        rules.append(rule)
    return rules


def allow(
    w: Workload, spec: PlatformSpec, flows: Sequence[Flow], labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The workload's one policy: exactly its flows in and out ([] when it has none)."""
    me = network.peer(w, spec)
    home = network.namespace_of(w, spec)
    ingress = _rules((f for f in flows if f.destination == me), False, home)
    egress = _rules((f for f in flows if f.source == me), True, home)
    if not (ingress or egress):
        return []
    body: dict[str, Any] = {
        "podSelector": {"matchLabels": me.selector},
        "policyTypes": ["Ingress", "Egress"],
    }
    if ingress:
        body["ingress"] = ingress
    if egress:
        body["egress"] = egress
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "NetworkPolicy",
            "metadata": {"name": w.name, "namespace": home, "labels": dict(labels)},
            "spec": body,
        }
    ]


def allow_policies(
    spec: PlatformSpec,
    workloads: Sequence[Workload],
    labels: Callable[[Workload], Mapping[str, str]],
) -> dict[str, list[dict[str, Any]]]:
    """Each workload's allow policy (a list of at most one), by workload name."""
    flows = network.flows(spec, ep.for_spec(spec), workloads)
    return {w.name: allow(w, spec, flows, labels(w)) for w in workloads}
