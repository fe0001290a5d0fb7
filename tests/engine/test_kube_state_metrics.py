"""kube-state-metrics of the pinned image (tools/engine/kube-state-metrics.sh), with the arguments
of the platform's own Deployment of it (resources, namespaces, metric allowlist), against the
tier's control plane (tests/cluster.py), once the platform's own objects are applied: the series the
saturation alerts and panels read (replicas, readiness, restarts, claims, node conditions) exist
for every Deployment, StatefulSet and Pod of the platform, in its namespace; and the Prometheus of
the pinned image, scraping it with the rendered `kube-state-metrics` job (its metric relabelling,
only the target static), gives each its `component`, so the shared queries (infra.queries) answer
for every workload.

The objects are staging's, as `make render` writes them (python -m infra.manifests), under a
name and namespace of their own: the `up` tests deploy staging itself on the same plane.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from infra import conventions as cv
from infra import endpoints as ep
from infra import queries
from infra.components.kubernetes import manifest_files
from infra.config import ROOT, StackConfig, from_stack_file, load_spec
from infra.manifests import workloads
from infra.render import render_all
from infra.spec import PlatformSpec
from infra.units import quantity
from tests import servers, tools
from tests.cluster import NODE_NAME, ControlPlane, wait_for

NAME = "mlops-ksm"
NAMESPACE = "mlops-ksm"
HOST_NAMESPACE = f"{NAME}-host"  # the collectors that read their host (node-exporter)
NAMESPACES = (NAMESPACE, HOST_NAMESPACE)
# What the platform runs kube-state-metrics with: only the objects its alerts and panels read.
RESOURCES = "daemonsets,deployments,nodes,persistentvolumeclaims,pods,statefulsets"
C = cv.Component


def ksm_spec() -> PlatformSpec:
    """staging, named NAME in NAMESPACE (its host collectors in a namespace of their own too)."""
    config = from_stack_file("staging", ROOT)
    values = dict(config.values)
    values["mlops:name"] = NAME
    values["mlops:kubernetes"] = {**(values.get("mlops:kubernetes") or {}), "namespace": NAMESPACE}
    saturation = values.get("mlops:saturation") or {}
    values["mlops:saturation"] = {**saturation, "hostNamespace": HOST_NAMESPACE}
    return load_spec(StackConfig(config.stack, values, config.secret_keys))


def _api_resources(client: httpx.Client) -> dict[tuple[str, str], tuple[str, str, bool]]:
    """(apiVersion, kind) -> (API path, plural, namespaced), from the API server's discovery."""
    versions = ["v1"] + [
        v["groupVersion"] for g in client.get("/apis").json()["groups"] for v in g["versions"]
    ]
    found = {}
    for version in versions:
        path = "/api/v1" if version == "v1" else f"/apis/{version}"
        for r in client.get(path).json()["resources"]:
            if "/" not in r["name"]:  # not a subresource
                found[(version, r["kind"])] = (path, r["name"], r["namespaced"])
    return found


def apply(plane: ControlPlane, documents: list[dict[str, Any]]) -> None:
    """Create every object, in order, as `kubectl apply -f` of the folder would."""
    with plane.client() as client:
        resources = _api_resources(client)
        for doc in documents:
            path, plural, namespaced = resources[(doc["apiVersion"], doc["kind"])]
            if namespaced:
                path += f"/namespaces/{doc['metadata'].get('namespace', NAMESPACE)}"
            response = client.post(f"{path}/{plural}", json=doc)
            assert response.status_code == 201, (
                f"{doc['kind']} {doc['metadata']['name']}: {response.text}"
            )


def remove(plane: ControlPlane, documents: list[dict[str, Any]]) -> None:
    """Delete every object, last first, and wait until none of their Pods is left: the tier's
    other tests share the plane (and its one node has one host port 9100 for node-exporter)."""
    with plane.client() as client:
        resources = _api_resources(client)
        for doc in reversed(documents):
            path, plural, namespaced = resources[(doc["apiVersion"], doc["kind"])]
            if namespaced:
                path += f"/namespaces/{doc['metadata'].get('namespace', NAMESPACE)}"
            response = client.delete(
                f"{path}/{plural}/{doc['metadata']['name']}",
                params={"propagationPolicy": "Background"},
            )
            assert response.status_code in (200, 202, 404), response.text
    wait_for(lambda: not _pods(plane), "the platform's Pods deleted", timeout=120)


def _pods(plane: ControlPlane) -> list[dict[str, Any]]:
    """The platform's Pods, in its namespace and its host collectors' one."""
    return [p for ns in NAMESPACES for p in plane.items(f"/api/v1/namespaces/{ns}/pods")]


def _all_ready(plane: ControlPlane) -> bool:
    """Every Deployment, StatefulSet and DaemonSet of the platform at its replicas, ready."""
    found, ready = 0, True
    for ns in NAMESPACES:
        apps = f"/apis/apps/v1/namespaces/{ns}"
        for c in plane.items(f"{apps}/deployments") + plane.items(f"{apps}/statefulsets"):
            found += 1
            ready &= c["status"].get("readyReplicas") == c["spec"]["replicas"]
        for d in plane.items(f"{apps}/daemonsets"):
            found += 1
            status = d["status"]
            ready &= 0 < status.get("desiredNumberScheduled", 0) == status.get("numberReady", 0)
    return found > 0 and ready


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def scrape(url: str) -> list[Sample]:
    text = httpx.get(url, timeout=10).text
    return [
        Sample(s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def one(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one series NAME{LABELS} (repeated identical samples count once)."""
    found = {
        (tuple(sorted(s.labels.items())), s.value)
        for s in samples
        if s.name == name and labels.items() <= s.labels.items()
    }
    assert len(found) == 1, f"{name}{labels}: {len(found)} series"
    return found.pop()[1]


def duplicated(samples: list[Sample]) -> dict[str, int]:
    """Metric name -> how many of its series appear more than once on the page."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for s in samples:
        key = (s.name, tuple(sorted(s.labels.items())))
        seen[key] = seen.get(key, 0) + 1
    found: dict[str, int] = {}
    for (name, _), count in seen.items():
        if count > 1:
            found[name] = found.get(name, 0) + 1
    return found


@dataclass
class Platform:
    spec: PlatformSpec
    documents: list[dict[str, Any]]
    metrics_url: str
    samples: list[Sample]
    server: servers.Server

    def objects(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.documents if d["kind"] == kind]


def platform_args(documents: list[dict[str, Any]]) -> list[str]:
    """The arguments of the platform's own kube-state-metrics container (its resources,
    namespaces and metric allowlist), but where it listens."""
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"
                     and d["metadata"]["name"] == f"{NAME}-{C.KUBE_STATE_METRICS.value}"]  # fmt: skip
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    listening = ("--host=", "--port=", "--telemetry-host=", "--telemetry-port=")
    args = [a for a in container.get("args", []) if not a.startswith(listening)]
    assert f"--resources={RESOURCES}" in [
        "--resources=" + ",".join(sorted(a.removeprefix("--resources=").split(",")))
        for a in args
        if a.startswith("--resources=")
    ], args
    return args


def start_ksm(
    folder: Path, kubeconfig: Path, args: list[str], name: str = "kube-state-metrics"
) -> servers.Server:
    port, telemetry = servers.free_port(), servers.free_port()
    return servers.start(
        name,
        [
            tools.kube_state_metrics(),
            f"--kubeconfig={kubeconfig}",
            "--host=127.0.0.1",
            f"--port={port}",
            "--telemetry-host=127.0.0.1",
            f"--telemetry-port={telemetry}",
            *args,
        ],
        f"http://127.0.0.1:{port}",
        folder / f"{name}.log",
    )


def _sees_the_platform(url: str, spec: PlatformSpec) -> bool:
    samples = scrape(url)
    return any(
        s.name == "kube_statefulset_replicas" and s.labels.get("namespace") == NAMESPACE
        for s in samples
    ) and any(
        s.name == "kube_deployment_status_replicas_available" and s.value > 0 for s in samples
    )


@pytest.fixture(scope="module")
def platform(plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    spec = ksm_spec()
    documents = [
        yaml.safe_load(text) for _, text in sorted(manifest_files(workloads(spec), spec).items())
    ]
    apply(plane, documents)
    try:
        wait_for(lambda: _all_ready(plane), "every platform workload ready", timeout=180)
        folder = tmp_path_factory.mktemp("kube-state-metrics")
        server = start_ksm(folder, plane.kubeconfig, platform_args(documents))
        with servers.running(server, None):
            url = f"{server.url}/metrics"
            servers.wait_until(
                lambda: _sees_the_platform(url, spec), 60, "the platform's series", server
            )
            (folder / "metrics.txt").write_text(httpx.get(url, timeout=10).text)  # on failure
            yield Platform(spec, documents, url, scrape(url), server)
    finally:
        remove(plane, documents)


def test_every_workload_has_its_replica_series_in_its_namespace(platform: Platform) -> None:
    samples = platform.samples
    deployments = platform.objects("Deployment")
    stateful_sets = platform.objects("StatefulSet")
    assert deployments
    assert stateful_sets
    for d in deployments:
        name, replicas = d["metadata"]["name"], d["spec"]["replicas"]
        key = {"namespace": NAMESPACE, "deployment": name}
        assert one(samples, "kube_deployment_spec_replicas", **key) == replicas
        assert one(samples, "kube_deployment_status_replicas_available", **key) == replicas
    for s in stateful_sets:
        name, replicas = s["metadata"]["name"], s["spec"]["replicas"]
        key = {"namespace": NAMESPACE, "statefulset": name}
        assert one(samples, "kube_statefulset_replicas", **key) == replicas
        assert one(samples, "kube_statefulset_status_replicas_ready", **key) == replicas
    for ds in platform.objects("DaemonSet"):
        key = {"namespace": ds["metadata"].get("namespace", NAMESPACE),
               "daemonset": ds["metadata"]["name"]}  # fmt: skip
        one(samples, "kube_daemonset_status_desired_number_scheduled", **key)


def test_every_pod_is_ready_with_its_restart_counts_and_every_claim_bound(
    platform: Platform, plane: ControlPlane
) -> None:
    samples = platform.samples
    pods = _pods(plane)
    assert pods
    for pod in pods:
        key = {"namespace": pod["metadata"]["namespace"], "pod": pod["metadata"]["name"]}
        assert one(samples, "kube_pod_status_ready", condition="true", **key) == 1
        assert one(samples, "kube_pod_status_ready", condition="false", **key) == 0
        for container in pod["spec"]["containers"]:
            restarts = one(samples, "kube_pod_container_status_restarts_total",
                           container=container["name"], **key)  # fmt: skip
            assert restarts == 0
    claims = plane.items(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")
    assert claims
    for claim in claims:
        key = {"namespace": NAMESPACE, "persistentvolumeclaim": claim["metadata"]["name"]}
        requested = claim["spec"]["resources"]["requests"]["storage"]
        assert one(samples, "kube_persistentvolumeclaim_resource_requests_storage_bytes",
                   **key) == float(quantity(requested))  # fmt: skip
    assert one(samples, "kube_node_status_condition", node=NODE_NAME, condition="Ready",
               status="true") == 1  # fmt: skip
    assert one(samples, "kube_node_status_allocatable", node=NODE_NAME, resource="memory") > 0
    # The platform's allowlist holds: nothing else is exposed, nothing outside its namespaces.
    allowed = next(
        a for a in platform_args(platform.documents) if a.startswith("--metric-allowlist=")
    )
    # Its entries are regular expressions kube-state-metrics matches from the start; each is
    # anchored at the end, so `kube_pod_status_ready` does not let `..._ready_time` through.
    entries = allowed.removeprefix("--metric-allowlist=").split(",")
    assert all(any(re.match(e, s.name) for e in entries) for s in samples)
    beyond = sorted({s.name for s in samples} - {e.removesuffix("$") for e in entries})
    assert not beyond, f"let through by an allowlist entry's prefix: {beyond}"
    assert {s.labels["namespace"] for s in samples if "namespace" in s.labels} <= set(NAMESPACES)
    # kube-state-metrics v2.16.0 with --namespaces=A,B builds one store per namespace for the
    # cluster-scoped nodes too, so each node series is on the page once per namespace
    # (kubernetes/kube-state-metrics#2878, fixed after v2.16.0 by #2998); the namespaced ones
    # are not repeated.
    repeated = duplicated(samples)
    assert all(name.startswith("kube_node_") for name in repeated), repeated
    ours = [s for s in samples if s.labels.get("namespace") in NAMESPACES]
    print(
        f"kube-state-metrics ({RESOURCES}): {len(samples)} series on /metrics, {len(ours)} of them"
        f" in {', '.join(NAMESPACES)} ({len(pods)} Pods, {len(claims)} claims,"
        f" {len(platform.objects('Deployment')) + len(platform.objects('StatefulSet'))} controllers);"
        f" repeated on the page (ksm#2878): {repeated or 'none'};"
        f" let through by an allowlist entry's prefix: {beyond or 'none'}"
    )


def _rendered_job(spec: PlatformSpec, target: str) -> dict[str, Any]:
    """The stack's rendered kube-state-metrics job, its discovery replaced by TARGET."""
    config = yaml.safe_load(render_all(spec, ep.for_spec(spec))[cv.PROMETHEUS_CONFIG])
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == cv.JOB[C.KUBE_STATE_METRICS]]
    job = {k: v for k, v in job.items() if k not in ("kubernetes_sd_configs", "relabel_configs")}
    return job | {"static_configs": [{"targets": [target]}], "scrape_interval": "1s"}


def _component(workload: str) -> str:
    match = re.fullmatch(rf"{NAME}-({'|'.join(c.value for c in C)})(?:-.*)?", workload)
    assert match, workload
    return match.group(1)


def test_the_rendered_job_labels_every_workload_with_its_component_and_the_queries_answer(
    platform: Platform, plane: ControlPlane, tmp_path: Path
) -> None:
    target = platform.metrics_url.removeprefix("http://").removesuffix("/metrics")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [_rendered_job(platform.spec, target)],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = servers.free_port()
    prometheus = servers.start(
        "prometheus",
        [tools.prometheus(), f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        f"http://127.0.0.1:{port}",
        tmp_path / "prometheus.log",
        cwd=tmp_path,
    )  # fmt: skip

    def query(expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    with servers.running(prometheus, servers.http_ok(f"{prometheus.url}/-/ready")):
        servers.wait_until(lambda: bool(query(queries.replicas_missing())), 30,
                           "the replicas query answering", prometheus)  # fmt: skip
        time.sleep(2)  # a second scrape: `increase` needs two samples
        workloads = {d["metadata"]["name"] for d in platform.objects("Deployment")} | {
            s["metadata"]["name"] for s in platform.objects("StatefulSet")
        }
        missing = query(queries.replicas_missing())
        assert {r["metric"][cv.COMPONENT_LABEL] for r in missing} == {
            _component(w) for w in workloads
        }
        assert all(float(r["value"][1]) == 0 for r in missing), missing
        not_ready = query(queries.pod_not_ready())
        pods = _pods(plane)
        assert {r["metric"]["pod"] for r in not_ready} == {p["metadata"]["name"] for p in pods}
        assert all(r["metric"][cv.COMPONENT_LABEL] for r in not_ready)
        assert all(float(r["value"][1]) == 0 for r in not_ready)
        restarts = query(queries.container_restarts("1m"))
        assert restarts
        assert all(float(r["value"][1]) == 0 for r in restarts)
        unlabelled = query(f'count({{job="kube-state-metrics",namespace=~"{"|".join(NAMESPACES)}",'
                           f'{cv.COMPONENT_LABEL}=""}})')  # fmt: skip
        assert unlabelled == [], "platform series without a component"
        total = float(query('count({job="kube-state-metrics"})')[0]["value"][1])
        dropped = query("sum(prometheus_target_scrapes_sample_duplicate_timestamp_total)")
        print(f"Prometheus keeps {total:.0f} kube-state-metrics series (the job's relabelling);"
              f" repeated samples dropped so far: {dropped[0]['value'][1] if dropped else 0}")  # fmt: skip


# What kube-state-metrics needs for RESOURCES, as issue 16 states the platform's ClusterRole.
NEEDED_RULES = [
    {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "nodes"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets"],
     "verbs": ["get", "list", "watch"]},
]  # fmt: skip


def _granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def _declared_account(platform: Platform) -> tuple[str, str] | None:
    """(namespace, ServiceAccount) the platform binds to a kube-state-metrics ClusterRole."""
    roles = {r["metadata"]["name"] for r in platform.objects("ClusterRole")
             if C.KUBE_STATE_METRICS.value in r["metadata"]["name"]}  # fmt: skip
    for binding in platform.objects("ClusterRoleBinding"):
        if binding["roleRef"]["name"] in roles:
            (subject,) = binding["subjects"]
            return subject.get("namespace", NAMESPACE), subject["name"]
    return None


def test_kube_state_metrics_needs_no_more_than_get_list_watch_on_its_resources(
    platform: Platform, plane: ControlPlane, tmp_path: Path
) -> None:
    """With only the platform's ClusterRole (until it declares one, the rules the issue states),
    through a ServiceAccount token: the same series, nothing forbidden."""
    declared = _declared_account(platform)
    if declared is not None:
        (role,) = [r for r in platform.objects("ClusterRole")
                   if C.KUBE_STATE_METRICS.value in r["metadata"]["name"]]  # fmt: skip
        assert _granted(role["rules"]) <= _granted(NEEDED_RULES), role["rules"]
        namespace, account = declared
    else:
        namespace, account = NAMESPACE, f"{NAME}-rbac-check"
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": account}, "rules": NEEDED_RULES}  # fmt: skip
        # Applied after the platform's objects: removed before them, at the module's end.
        platform.documents += [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": account, "namespace": namespace}},
            role,
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": account},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": account},
             "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]},
        ]  # fmt: skip
        apply(plane, platform.documents[-3:])
    with plane.client() as client:
        answer = client.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": 3600}},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": answer.json()["status"]["token"]}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    server = start_ksm(
        tmp_path, kubeconfig, platform_args(platform.documents), "kube-state-metrics-rbac"
    )
    with servers.running(server, None):
        url = f"{server.url}/metrics"
        servers.wait_until(lambda: _sees_the_platform(url, platform.spec), 60,
                           "the platform's series with the ServiceAccount", server)  # fmt: skip
        samples = scrape(url)
        log = server.output(100_000)
    assert "forbidden" not in log.lower(), log

    def names(found: list[Sample]) -> set[str]:
        return {s.name for s in found if s.labels.get("namespace") in NAMESPACES}

    assert names(samples) == names(platform.samples)
    print(f"with {account}'s token: {len(samples)} series, nothing forbidden "
          f"({'the platform ClusterRole' if declared else 'the issue'}'s rules)")  # fmt: skip
