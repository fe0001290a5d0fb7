"""High availability on Kubernetes, from the mocked program: the Prometheus pair and the
Alertmanager cluster, how replicas spread across nodes, probes, and scratch space.

What these replicas do under faults (a peer killed, a split, a restart) runs for real in
tests/live/test_ha.py; here is what the program declares for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from infra import conventions as cv
from infra import endpoints as ep
from infra.components.kubernetes import LOGS_MIB
from infra.render import render_all
from infra.render.prometheus import REPLICA_ENV
from infra.units import quantity
from tests.conftest import stack_spec
from tests.program import Program, manifest_of, run_program

C = cv.Component
WORKLOAD_KINDS = {
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DaemonSet",
}


@pytest.fixture(scope="module", params=["staging", "prod"])
def kube(request: pytest.FixtureRequest) -> Program:
    return run_program(str(request.param))


@pytest.fixture(scope="module")
def prod() -> Program:
    return run_program("prod")


def _workloads(program: Program) -> list[dict[str, Any]]:
    return [manifest_of(r) for r in program.mocks.resources if r.typ in WORKLOAD_KINDS]


def _workload(program: Program, component: C) -> dict[str, Any]:
    name = f"{program.spec.name}-{component.value}"
    return next(w for w in _workloads(program) if w["metadata"]["name"] == name)


def _containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Prometheus' expansion of external label values: ${var} and $var, unset is empty."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


def _labels_as_sent(config: Mapping[str, Any], pod: str) -> tuple[dict[str, str], dict[str, str]]:
    """A replica's external labels on its series, and on its alerts (after
    alert_relabel_configs' labeldrop, the one action the platform renders there)."""
    external = {
        k: _expand(v, {REPLICA_ENV: pod})
        for k, v in config["global"].get("external_labels", {}).items()
    }
    alert = dict(external)
    for rule in config["alerting"].get("alert_relabel_configs", []):
        assert rule["action"] == "labeldrop", rule
        alert = {k: v for k, v in alert.items() if not re.fullmatch(rule["regex"], k)}
    return external, alert


def test_prod_runs_a_prometheus_pair_whose_alerts_are_one(prod: Program) -> None:
    prometheus = _workload(prod, C.PROMETHEUS)
    assert prometheus["kind"] == "StatefulSet"
    assert prometheus["spec"]["replicas"] == 2
    env = {e["name"]: e for e in _containers(prometheus)[0]["env"]}
    assert env[REPLICA_ENV]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    files = render_all(prod.spec, ep.for_spec(prod.spec))
    config = yaml.safe_load(files[cv.PROMETHEUS_CONFIG])
    pods = [f"{prometheus['metadata']['name']}-{i}" for i in range(2)]
    (series_0, alerts_0), (series_1, alerts_1) = (_labels_as_sent(config, p) for p in pods)
    # A remote store tells the replicas' series apart by the replica label...
    assert series_0 != series_1
    assert series_0[prod.spec.prometheus.replica_label] == pods[0]
    # ...and Alertmanager gets the same alert from both.
    assert alerts_0 == alerts_1 == {"environment": "prod"}


def test_every_prometheus_replica_sends_to_every_alertmanager_pod(prod: Program) -> None:
    files = render_all(prod.spec, ep.for_spec(prod.spec))
    (alerting,) = yaml.safe_load(files[cv.PROMETHEUS_CONFIG])["alerting"]["alertmanagers"]
    (sd,) = alerting["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert sd["namespaces"]["names"] == [prod.spec.kubernetes.namespace]
    selector = dict(kv.split("=") for kv in sd["selectors"][0]["label"].split(","))
    alertmanager = _workload(prod, C.ALERTMANAGER)
    assert alertmanager["spec"]["replicas"] == 3
    # The selector picks every Alertmanager pod (and nothing else), and the only relabelling
    # keeps their API port: no pod is left out, whichever replica reads the file.
    assert selector.items() <= alertmanager["spec"]["template"]["metadata"]["labels"].items()
    for other in _workloads(prod):
        if (
            other is not alertmanager
            and other["metadata"]["name"] != alertmanager["metadata"]["name"]
        ):
            assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
    keeps = [r for r in alerting["relabel_configs"] if r.get("action") == "keep"]
    assert keeps == [
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_number"],
            "regex": str(cv.PORTS[C.ALERTMANAGER]["http"]),
            "action": "keep",
        }
    ]
    # Both replicas read that file: one ConfigMap, mounted by the pod template they share.
    config_maps = [
        r for r in prod.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == f"{prod.spec.name}-prometheus-config"
    ]  # fmt: skip
    assert len(config_maps) == 1


def test_grafana_and_tempo_reach_the_pair_as_they_need(prod: Program) -> None:
    """Grafana queries through the Service (either replica; each client kept on one), Tempo
    writes its span metrics to each replica (through the Service, each would get a share)."""
    name, ns = f"{prod.spec.name}-prometheus", prod.spec.kubernetes.namespace
    (datasource,) = [
        r for r in prod.of_type("grafana:oss/dataSource:DataSource")
        if r.inputs["type"] == "prometheus"
    ]  # fmt: skip
    assert datasource.inputs["url"] == f"http://{name}.{ns}.svc:9090"
    service = prod.mocks.named(f"{name}-service").inputs["spec"]
    assert service["sessionAffinity"] == "ClientIP"
    pods = _workload(prod, C.PROMETHEUS)["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= pods.items()
    tempo = yaml.safe_load(render_all(prod.spec, ep.for_spec(prod.spec))[cv.TEMPO_CONFIG])
    writes = [w["url"] for w in tempo["metrics_generator"]["storage"]["remote_write"]]
    assert writes == [
        f"http://{name}-{i}.{name}-headless.{ns}.svc:9090/api/v1/write" for i in range(2)
    ]


def test_alertmanager_gossip_timings_are_the_specs(prod: Program) -> None:
    args = _containers(_workload(prod, C.ALERTMANAGER))[0]["args"]
    gossip = prod.spec.alertmanager.gossip
    assert f"--cluster.peer-timeout={gossip.peer_timeout}" in args
    assert f"--cluster.gossip-interval={gossip.gossip_interval}" in args
    assert f"--cluster.pushpull-interval={gossip.pushpull_interval}" in args
    assert "--cluster.advertise-address=$(POD_IP):9094" in args
    # Silences and the notification log are snapshotted to the replica's own volume.
    workload = _workload(prod, C.ALERTMANAGER)
    (claim,) = workload["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in _containers(workload)[0]["volumeMounts"]}
    assert f"--storage.path={mounts[claim['metadata']['name']]}" in args


def test_single_instances_have_no_replica_label_or_gossip() -> None:
    spec = stack_spec("staging")
    assert spec.prometheus.replicas == 1
    config = yaml.safe_load(render_all(spec, ep.for_spec(spec))[cv.PROMETHEUS_CONFIG])
    assert "alert_relabel_configs" not in config["alerting"]
    assert spec.prometheus.replica_label not in config["global"].get("external_labels", {})


def test_every_multi_replica_workload_spreads_across_nodes(kube: Program) -> None:
    budgets = {
        tuple(sorted(r.inputs["spec"]["selector"]["matchLabels"].items())): r.inputs["spec"]
        for r in kube.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    }
    multi = [w for w in _workloads(kube) if w["spec"].get("replicas", 1) > 1]
    assert f"{kube.spec.name}-alertmanager" in {w["metadata"]["name"] for w in multi}
    for workload in multi:
        selector = workload["spec"]["selector"]["matchLabels"]
        constraints = workload["spec"]["template"]["spec"]["topologySpreadConstraints"]
        hard = [c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname"]
        assert hard == [
            {
                "labelSelector": {"matchLabels": selector},
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "nodeTaintsPolicy": "Honor",
            }
        ], workload["metadata"]["name"]
        # A node drain may evict one replica at a time, never none.
        budget = budgets[tuple(sorted(selector.items()))]
        assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}


def _handler(probe: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in probe.items() if k in {"httpGet", "tcpSocket", "exec", "grpc"}}


def test_no_container_is_live_only_when_it_is_ready(kube: Program) -> None:
    """Liveness asks "alive", readiness "can serve": the same check on both would restart a
    pod that is only busy or waiting on a dependency."""
    for workload in _workloads(kube):
        for container in _containers(workload):
            live, ready = container["livenessProbe"], container["readinessProbe"]
            assert _handler(live)
            assert _handler(ready)
            assert _handler(live) != _handler(ready), workload["metadata"]["name"]


def test_containers_with_scratch_space_request_and_cap_ephemeral_storage(kube: Program) -> None:
    for workload in _workloads(kube):
        pod = workload["spec"]["template"]["spec"]
        sizes = {
            v["name"]: quantity(v["emptyDir"]["sizeLimit"])
            for v in pod["volumes"]
            if "emptyDir" in v
        }
        for container in pod["containers"]:
            scratch = [m["name"] for m in container["volumeMounts"] if m["name"] in sizes]
            assert scratch, workload["metadata"]["name"]
            resources = container["resources"]
            request = quantity(resources["requests"]["ephemeral-storage"])
            limit = quantity(resources["limits"]["ephemeral-storage"])
            assert request == LOGS_MIB << 20
            # Room for every scratch folder full and the logs: the kubelet evicts past it.
            assert limit == request + sum(sizes[n] for n in scratch)


def test_a_pairs_remote_stores_get_the_replica_label_unless_they_dedupe_without_it() -> None:
    """Thanos and Mimir deduplicate by the replica label; VictoriaMetrics by identical series,
    so its remote drops the label on the way."""
    spec = stack_spec("prod")
    remotes = [
        {"name": "thanos", "url": "https://thanos.example.com/api/v1/receive"},
        {"name": "vm", "url": "https://vm.example.com/api/v1/write", "dropReplicaLabel": True},
    ]
    prometheus = spec.prometheus.model_validate(
        spec.prometheus.model_dump(by_alias=True) | {"remoteWrite": remotes}
    )
    pair = spec.model_copy(update={"prometheus": prometheus})
    config = yaml.safe_load(render_all(pair, ep.for_spec(pair))[cv.PROMETHEUS_CONFIG])
    writes = {w["name"]: w for w in config["remote_write"]}
    assert "write_relabel_configs" not in writes["thanos"]
    assert writes["vm"]["write_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
