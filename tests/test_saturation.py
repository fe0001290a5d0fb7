"""The saturation collectors as the program declares them: who may read what, who may touch
the host, what exists only when asked for, and how every series learns its component.

Mock tests, through the real program (`preview=False`); the relabelling is checked by
applying the rendered rules the way Prometheus does (`relabel.Process`: the source labels
joined by the separator, the regex anchored at both ends).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import pytest
import yaml

from dashboards import resources, serving
from infra import conventions as cv
from infra import queries
from infra.components.services import KUBE_STATE_READS, KUBE_STATE_SERIES
from infra.components.workload import READ_VERBS, ApiRead
from infra.render import saturation
from infra.spec import PlatformSpec
from tests.program import Program, manifest_of, run_program, stack_config

C = cv.Component
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONTAINER = "docker:index/container:Container"
MODEL = {
    "name": "iris-classifier",
    "replicas": 2,
    "resources": {"cpuRequest": "1", "memoryRequest": "2Gi", "memoryLimit": "4Gi"},
}


@cache
def program(stack: str, overrides: str = "{}") -> Program:
    """A shipped stack, with config keys (JSON of key -> value) set over its own."""
    config, secrets = stack_config(stack)
    config |= {f"mlops:{k}": json.dumps(v) for k, v in json.loads(overrides).items()}
    return run_program(stack, config, secrets)


def with_(stack: str, **overrides: Any) -> Program:
    return program(stack, json.dumps(overrides, sort_keys=True))


def _prometheus_config(p: Program) -> dict[str, Any]:
    if p.spec.target == "docker":
        container = p.mocks.named(f"{p.spec.name}-prometheus-container")
        files = {u["file"]: u["content"] for u in container.inputs["uploads"]}
        text = next(c for f, c in files.items() if f.endswith(cv.PROMETHEUS_CONFIG))
    else:
        text = p.mocks.named(f"{p.spec.name}-prometheus-configmap-config").inputs["data"][
            cv.PROMETHEUS_CONFIG
        ]
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _jobs(p: Program) -> dict[str, dict[str, Any]]:
    return {j["job_name"]: j for j in _prometheus_config(p)["scrape_configs"]}


def _daemonsets(p: Program) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in (manifest_of(r) for r in p.of_type(DAEMONSET))}


# --- rights --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_cluster_role_is_read_only_and_names_only_what_its_user_reads(stack: str) -> None:
    p = program(stack)
    name = p.spec.name
    roles = {r.inputs["metadata"]["name"]: r.inputs["rules"] for r in p.of_type(CLUSTER_ROLE)}
    # Only these two get cluster-wide rights: Prometheus reads the nodes (discovery) and their
    # kubelets through the API server proxy; kube-state-metrics lists the objects it describes.
    assert roles == {
        f"{name}-prometheus": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
        ],
        f"{name}-kube-state-metrics": [
            {"apiGroups": [r.group], "resources": list(r.resources), "verbs": ["list", "watch"]}
            for r in KUBE_STATE_READS
        ],
    }
    for rules in roles.values():
        for rule in rules:
            assert set(rule["verbs"]) <= READ_VERBS
            assert "*" not in rule["resources"]
            assert "*" not in rule["apiGroups"]
    bindings = {b.inputs["metadata"]["name"]: b.inputs for b in p.of_type(CLUSTER_ROLE_BINDING)}
    assert set(bindings) == set(roles)
    for role, binding in bindings.items():
        assert binding["roleRef"]["name"] == role
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": role, "namespace": p.spec.kubernetes.namespace}
        ]


def test_kube_state_metrics_lists_exactly_what_its_role_allows() -> None:
    ksm = manifest_of(program("prod").mocks.named("mlops-prod-kube-state-metrics-deployment"))
    args = ksm["spec"]["template"]["spec"]["containers"][0]["args"]
    flag = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args}
    granted = {r for read in KUBE_STATE_READS for r in read.resources}
    assert set(flag["--resources"].split(",")) == granted
    assert flag["--namespaces"].split(",") == ["mlops-prod", "mlops-prod-host-metrics"]
    assert flag["--metric-allowlist"].split(",") == [f"{m}$" for m in KUBE_STATE_SERIES]


def test_a_read_right_with_a_write_verb_is_refused() -> None:
    with pytest.raises(ValueError, match="read-only"):
        ApiRead("", ("pods",), ("list", "delete"))


# --- what exists only when asked for ------------------------------------------------------


def test_node_exporter_runs_only_where_a_stack_opts_in() -> None:
    plain, opted = program("prod"), with_("prod", saturation={"nodeExporter": {"enabled": True}})
    assert "mlops-prod-node-exporter" not in _daemonsets(plain)
    assert cv.JOB[C.NODE_EXPORTER] not in _jobs(plain)
    assert "mlops-prod-host-metrics" not in {r.name for r in plain.of_type(NAMESPACE)}

    daemonset = _daemonsets(opted)["mlops-prod-node-exporter"]
    assert daemonset["metadata"]["namespace"] == "mlops-prod-host-metrics"
    host = opted.mocks.named("mlops-prod-host-metrics").inputs["metadata"]["labels"]
    assert host["pod-security.kubernetes.io/enforce"] == "privileged"
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert pod["hostNetwork"] is True
    allowed = cv.HOST_ACCESS[C.NODE_EXPORTER].paths
    paths = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {
        (paths[m["name"]], m["mountPath"], m.get("readOnly"))
        for m in pod["containers"][0]["volumeMounts"]
        if m["name"] in paths
    }
    assert mounts == {(source, target, True) for source, target in allowed}
    # Only host collectors live in that namespace.
    elsewhere = [
        manifest_of(r)
        for r in opted.mocks.resources
        if r.typ.startswith("kubernetes:apps/")
        and manifest_of(r)["metadata"].get("namespace") == "mlops-prod-host-metrics"
    ]
    assert [w["metadata"]["name"] for w in elsewhere] == ["mlops-prod-node-exporter"]
    assert _jobs(opted)[cv.JOB[C.NODE_EXPORTER]]["kubernetes_sd_configs"][0]["namespaces"] == {
        "names": ["mlops-prod-host-metrics"]
    }


def test_gpu_parts_exist_only_when_a_model_requests_gpus() -> None:
    plain = program("prod")
    gpu = with_("prod", serving={"models": [MODEL | {"gpus": 1}]})
    assert "mlops-prod-dcgm-exporter" not in _daemonsets(plain)
    assert cv.JOB[C.DCGM_EXPORTER] not in _jobs(plain)
    assert cv.GPU_RESOURCE not in json.dumps([r.inputs for r in plain.mocks.resources])

    assert "mlops-prod-dcgm-exporter" in _daemonsets(gpu)
    assert cv.JOB[C.DCGM_EXPORTER] in _jobs(gpu)
    serving = manifest_of(gpu.mocks.named("mlops-prod-serving-iris-classifier-deployment"))
    limits = serving["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits[cv.GPU_RESOURCE] == "1"


def test_dev_with_a_gpu_model_gives_the_gpus_to_serving_and_the_dcgm_exporter_alone() -> None:
    dev = with_("dev", serving={"models": [MODEL | {"gpus": 1}]})
    gpus = {c.inputs["name"]: c.inputs.get("gpus") for c in dev.of_type(CONTAINER)}
    assert {name for name, g in gpus.items() if g} == {
        "mlops-dev-serving-iris-classifier-0",
        "mlops-dev-serving-iris-classifier-1",
        "mlops-dev-dcgm-exporter",
    }
    dcgm = dev.mocks.named("mlops-dev-dcgm-exporter-container").inputs
    assert not dcgm.get("volumes"), "no kubelet socket to read on docker"
    assert cv.JOB[C.DCGM_EXPORTER] in _jobs(dev)


def test_dev_reads_its_host_through_exactly_the_declared_read_only_mounts() -> None:
    dev = program("dev")
    for component in (C.NODE_EXPORTER, C.CADVISOR):
        inputs = dev.mocks.named(f"mlops-dev-{component.value}-container").inputs
        mounts = {(v["hostPath"], v["containerPath"], v["readOnly"]) for v in inputs["volumes"]}
        assert mounts == {(s, t, True) for s, t in cv.HOST_ACCESS[component].paths}
        assert not inputs.get("ports"), "a collector is scraped on the network, never published"
        assert inputs.get("networkMode") in (None, "bridge")
    others = [
        c
        for c in dev.of_type(CONTAINER)
        if not c.name.startswith(("mlops-dev-node", "mlops-dev-cad"))
    ]
    assert all("hostPath" not in json.dumps(c.inputs.get("volumes")) for c in others)


def test_docker_runs_no_kubernetes_collector_and_kubernetes_no_cadvisor_container() -> None:
    assert set(_jobs(program("dev"))) >= {"cadvisor", "node-exporter"}
    assert not {"kube-state-metrics", "kubelet", "kubelet-resource"} & set(_jobs(program("dev")))
    prod = _jobs(program("prod"))
    assert {"cadvisor", "kubelet", "kubelet-resource", "kube-state-metrics"} <= set(prod)
    # prod's cAdvisor job is the kubelets', read through the API server.
    assert prod["cadvisor"]["kubernetes_sd_configs"] == [{"role": "node"}]
    off = with_(
        "prod", saturation={"kubelet": {"enabled": False}, "kubeStateMetrics": {"enabled": False}}
    )
    assert not {"cadvisor", "kubelet", "kube-state-metrics"} & set(_jobs(off))
    assert not off.of_type(CLUSTER_ROLE)


# --- every series learns its component -------------------------------------------------------


def _relabel(rules: list[Mapping[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabelling of one series (replace, keep, drop), None when dropped."""
    out = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(
            out.get(s, "") for s in rule.get("source_labels", [])
        )
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            target = match.expand(rule.get("replacement", "$1").replace("$", "\\"))
            if target:
                out[rule["target_label"]] = target
            else:
                out.pop(rule["target_label"], None)
    return out


CASES = [
    ("dev", {"__name__": "container_memory_working_set_bytes", "name": "mlops-dev-serving-iris-classifier", "id": "/docker/4f1"}, "serving"),
    ("dev", {"__name__": "container_memory_working_set_bytes", "id": "/mlops-dev-prometheus"}, "prometheus"),
    ("dev", {"__name__": "container_memory_working_set_bytes", "name": "mlops-dev-otel-collector"}, "otel-collector"),
    ("dev", {"__name__": "container_memory_working_set_bytes", "name": "someone-elses-db"}, None),
    ("dev", {"__name__": "container_memory_working_set_bytes", "name": "mlops-prod-prometheus"}, None),
    ("dev", {"__name__": "container_fs_inodes_free", "name": "mlops-dev-prometheus"}, None),
    ("staging", {"__name__": "container_cpu_usage_seconds_total", "namespace": "mlops-staging", "pod": "mlops-staging-otel-collector-5d8f9-x2x", "container": "otel-collector"}, "otel-collector"),
    ("staging", {"__name__": "container_network_receive_bytes_total", "namespace": "mlops-staging", "pod": "mlops-staging-loki-0"}, "loki"),
    ("staging", {"__name__": "container_memory_working_set_bytes", "namespace": "mlops-staging", "pod": "mlops-staging-loki-0"}, None),
    ("staging", {"__name__": "container_memory_working_set_bytes", "namespace": "mlops-staging", "pod": "mlops-staging-loki-0", "container": "POD"}, None),
    ("staging", {"__name__": "container_memory_working_set_bytes", "namespace": "mlops-staging", "pod": "mlops-staging-loki-0", "container": "loki"}, "loki"),
    ("staging", {"__name__": "container_cpu_usage_seconds_total", "namespace": "monitoring", "pod": "prometheus-0", "container": "prometheus"}, None),
    ("staging", {"__name__": "container_cpu_usage_seconds_total", "namespace": "mlops-staging-host-metrics", "pod": "mlops-staging-node-exporter-abcde", "container": "node-exporter"}, "node-exporter"),
]  # fmt: skip


@pytest.mark.parametrize(("stack", "series", "component"), CASES)
def test_every_container_series_is_labelled_with_its_component_or_dropped(
    stack: str, series: dict[str, str], component: str | None
) -> None:
    job = _jobs(program(stack))[cv.JOB[C.CADVISOR]]
    out = _relabel(job["metric_relabel_configs"], series)
    assert (out or {}).get(cv.COMPONENT_LABEL) == component


def test_volume_claims_and_workloads_are_labelled_with_their_component() -> None:
    jobs = _jobs(program("prod"))
    claim = {"__name__": "kubelet_volume_stats_available_bytes", "namespace": "mlops-prod",
             "persistentvolumeclaim": "data-mlops-prod-prometheus-1"}  # fmt: skip
    volume = _relabel(jobs["kubelet"]["metric_relabel_configs"], claim)
    assert volume is not None
    assert volume[cv.COMPONENT_LABEL] == "prometheus"
    replicas = {"__name__": "kube_statefulset_replicas", "namespace": "mlops-prod",
                "statefulset": "mlops-prod-alertmanager"}  # fmt: skip
    out = _relabel(jobs["kube-state-metrics"]["metric_relabel_configs"], replicas)
    assert out is not None
    assert out[cv.COMPONENT_LABEL] == "alertmanager"


def test_every_collector_metric_a_query_reads_is_kept_at_scrape_time() -> None:
    """A metric the rules or panels read but the scrape drops would draw nothing."""
    readers = (queries, resources, serving)
    text = "\n".join(inspect.getsource(m) for m in readers)
    kept = {
        "container_": set(saturation.KEEP[cv.JOB[C.CADVISOR]]),
        "kubelet_": set(saturation.KEEP[cv.KUBELET_JOB]),
        "kube_": set(KUBE_STATE_SERIES),
    }
    for prefix, names in kept.items():
        names_of_code = {n for m in readers for n in dir(m)} | set(dir(PlatformSpec))
        # A name built from parts (container_network_{direction}_...) counts by its stem.
        used = {
            n.rstrip("_")
            for n in re.findall(rf"(?<![.\w])({prefix}[a-z_]+)\b", text)
            if n not in names_of_code
        }
        names |= {n for n in used if any(k.startswith(n + "_") for k in names)}
        assert used, prefix
        assert used <= names, used - names
