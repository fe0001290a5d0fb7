"""Small, compliant resources in the shapes the engine hands to the pack, and ways to break them.

Each builder returns a fresh `Resource` that passes every policy; a test
then changes or removes one property (`changed`, `without`) to make it
non-compliant or to leave the property out.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from tests.policies.harness import Resource

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
BUILT_IMAGE = "docker:index/image:Image"
PROVIDER = "pulumi:providers:grafana"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
FOLDER = "grafana:oss/folder:Folder"
DATASOURCE = "grafana:oss/dataSource:DataSource"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
NS = "mlops-test"

Path = tuple[str | int, ...]


def changed(resource: Resource, path: Path, value: Any) -> Resource:
    """A copy with the value at `path` set (intermediate objects created as needed)."""
    inputs: Any = copy.deepcopy(dict(resource.inputs))
    node = inputs
    for step in path[:-1]:
        if isinstance(step, str) and isinstance(node, dict):
            node = node.setdefault(step, {})
        else:
            node = node[step]
    node[path[-1]] = value
    return Resource(resource.typ, resource.name, inputs, resource.stack)


def without(resource: Resource, path: Path) -> Resource:
    """A copy with the property at `path` removed."""
    inputs: Any = copy.deepcopy(dict(resource.inputs))
    node = inputs
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return Resource(resource.typ, resource.name, inputs, resource.stack)


def _labels(component: str, instance: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": instance}


SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
PROBE = {"httpGet": {"path": "/-/ready", "port": "http"}, "periodSeconds": 10.0}
LIVE_PROBE = {"httpGet": {"path": "/-/healthy", "port": "http"}, "periodSeconds": 10.0}


def k8s_container(component: str, args: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": component,
        "image": "prom/prometheus:v3.5.0",
        "args": args,
        "ports": [{"name": "http", "containerPort": 9090.0}],
        "env": [],
        "resources": {
            "requests": {"cpu": "250m", "memory": "1Gi", "ephemeral-storage": "64Mi"},
            "limits": {"memory": "2Gi", "ephemeral-storage": "320Mi"},
        },
        "readinessProbe": copy.deepcopy(PROBE),
        "livenessProbe": copy.deepcopy(LIVE_PROBE),
        "securityContext": copy.deepcopy(SECURITY),
        "volumeMounts": [
            {"name": "files", "mountPath": "/etc/prometheus", "readOnly": True},
            {"name": "data", "mountPath": "/prometheus"},
            {"name": "scratch-0", "mountPath": "/tmp"},
        ],
        **extra,
    }


def statefulset(
    component: str = "prometheus", replicas: int = 1, container: dict[str, Any] | None = None
) -> Resource:
    name = f"mlops-test-{component}"
    labels = _labels(component, name)
    args = [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--storage.tsdb.retention.time=15d",
    ]
    return Resource(
        STATEFULSET,
        f"{name}-statefulset",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": NS, "labels": dict(labels)},
            "spec": {
                "replicas": float(replicas),
                "serviceName": f"{name}-headless",
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65534.0,
                            "fsGroup": 65534.0,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container or k8s_container(component, args)],
                        "volumes": [
                            {"name": "files", "configMap": {"name": f"{name}-config"}},
                            {"name": "scratch-0", "emptyDir": {"sizeLimit": "256Mi"}},
                        ],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}},
                        },
                    }
                ],
            },
        },
    )


def deployment(component: str = "serving", replicas: int = 1) -> Resource:
    name = f"mlops-test-{component}"
    labels = _labels(component, name)
    container = k8s_container(component, [])
    container["image"] = "ghcr.io/mlops-observability/serving:0.1.0"
    container["volumeMounts"] = [{"name": "scratch-0", "mountPath": "/tmp"}]
    return Resource(
        DEPLOYMENT,
        f"{name}-deployment",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": dict(labels)},
            "spec": {
                "replicas": float(replicas),
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001.0},
                        "containers": [container],
                        "volumes": [{"name": "scratch-0", "emptyDir": {}}],
                    },
                },
            },
        },
    )


def grafana_statefulset() -> Resource:
    container = k8s_container("grafana", [])
    container["image"] = "grafana/grafana:12.0.2"
    container["volumeMounts"] = [{"name": "data", "mountPath": "/var/lib/grafana"}]
    container["env"] = [
        {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "false"},
        {"name": "GF_USERS_ALLOW_SIGN_UP", "value": "false"},
        {
            "name": "GF_SECURITY_ADMIN_PASSWORD__FILE",
            "value": "/etc/grafana/secrets/admin-password",
        },
        {"name": "GF_PATHS_DATA", "value": "/var/lib/grafana"},
    ]
    return statefulset("grafana", container=container)


def spread(target: Resource, hard: bool = True) -> Resource:
    """The workload with its replicas spread by node: DoNotSchedule, or only ScheduleAnyway."""
    constraint = {
        "maxSkew": 1.0,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
        "labelSelector": copy.deepcopy(target.inputs["spec"]["selector"]),
    }
    return changed(target, ("spec", "template", "spec", "topologySpreadConstraints"), [constraint])


def prometheus_config(document: dict[str, Any]) -> Resource:
    return configmap("prometheus", {"prometheus.yml": config_yaml(document)})


def pdb(target: Resource, max_unavailable: Any = 1.0) -> Resource:
    selector = copy.deepcopy(target.inputs["spec"]["selector"])
    name = target.inputs["metadata"]["name"]
    return Resource(
        PDB,
        f"{name}-poddisruptionbudget",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"maxUnavailable": max_unavailable, "selector": selector},
        },
    )


def network_policy(target: Resource | None = None, namespace_: str = NS) -> Resource:
    """An allow policy selecting `target`'s pods (DNS out, Prometheus in), or, without a
    target, the namespace's default deny."""
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    name = "default-deny"
    if target is not None:
        name = target.inputs["metadata"]["name"]
        spec["podSelector"] = copy.deepcopy(target.inputs["spec"]["selector"])
        spec["ingress"] = [
            {
                "from": [{"podSelector": {"matchLabels": _labels("prometheus", "p")}}],
                "ports": [{"protocol": "TCP", "port": 3000.0}],
            }
        ]
        spec["egress"] = [{"ports": [{"protocol": "UDP", "port": 53.0}]}]
    return Resource(
        NETWORK_POLICY,
        f"{namespace_}-{name}-networkpolicy",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace_},
            "spec": spec,
        },
    )


def alertmanager(replicas: int = 2) -> Resource:
    name = "mlops-test-alertmanager"
    peers = [f"--cluster.peer={name}-{i}.{name}-headless.{NS}.svc:9094" for i in range(replicas)]
    args = ["--storage.path=/alertmanager", "--cluster.listen-address=0.0.0.0:9094", *peers]
    container = k8s_container("alertmanager", args)
    container["image"] = "prom/alertmanager:v0.28.1"
    container["volumeMounts"] = [{"name": "data", "mountPath": "/alertmanager"}]
    workload = statefulset("alertmanager", replicas=replicas, container=container)
    return spread(workload) if replicas > 1 else workload


def docker_container(component: str = "grafana", **overrides: Any) -> Resource:
    name = f"mlops-dev-{component}"
    inputs: dict[str, Any] = {
        "name": name,
        "image": "grafana/grafana:12.0.2@sha256:" + "a" * 64,
        "user": "472:472",
        "readOnly": True,
        "privileged": False,
        "capabilities": {"drops": ["ALL"]},
        "securityOpts": ["no-new-privileges:true"],
        "memory": 512.0,
        "memoryReservation": 128.0,
        "envs": [
            "GF_AUTH_ANONYMOUS_ENABLED=false",
            "GF_USERS_ALLOW_SIGN_UP=false",
            "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/secrets/admin-password",  # pragma: allowlist secret
            "GF_PATHS_DATA=/var/lib/grafana",
        ],
        "ports": [{"internal": 3000.0, "external": 3000.0, "ip": "127.0.0.1"}],
        "volumes": [{"volumeName": f"{name}-data", "containerPath": "/var/lib/grafana"}],
        "uploads": [
            {
                "file": "/etc/grafana/secrets/admin-password",
                "content": "generated-password",
                "permissions": "0400",
            }
        ],
        "healthcheck": {"tests": ["CMD", "wget", "-q", "http://127.0.0.1:3000/api/health"]},
        "labels": [
            {"label": "app.kubernetes.io/name", "value": component},
            {"label": "app.kubernetes.io/instance", "value": name},
        ],
    }
    inputs.update(overrides)
    return Resource(CONTAINER, f"{name}-container", inputs)


def configmap(component: str, data: dict[str, str]) -> Resource:
    name = f"mlops-test-{component}-config"
    return Resource(
        CONFIGMAP,
        f"mlops-test-{component}-configmap-config",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NS, "labels": _labels(component, name)},
            "data": data,
        },
    )


# --- rendered files ------------------------------------------------------------------------

RUNBOOK = "https://runbooks.example.com/{}.md"


def alert(name: str, severity: str = "warning", **labels: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": "up == 0",
        "for": "5m",
        "labels": {"severity": severity, **labels},
        "annotations": {
            "summary": f"{name} fired.",
            "description": f"{name} fired; look at the runbook.",
            "runbook_url": RUNBOOK.format(name),
        },
    }


def slo_rules(
    slo: str = "serving-availability", severities: tuple[str, ...] = ("page", "ticket")
) -> str:
    base = "".join(part.capitalize() for part in slo.split("-"))
    names = {"page": f"{base}ErrorBudgetBurnPage", "ticket": f"{base}ErrorBudgetBurnTicket"}
    labels = {"sloth_id": f"serving-{slo}", "sloth_service": "serving", "sloth_slo": slo}
    groups = [
        {
            "name": f"sloth-slo-sli-recordings-serving-{slo}",
            "rules": [
                {"record": "slo:sli_error:ratio_rate5m", "expr": "vector(0)", "labels": labels},
                {"record": "slo:objective:ratio", "expr": "vector(0.999)", "labels": labels},
            ],
        },
        {
            "name": f"sloth-slo-alerts-serving-{slo}",
            "rules": [alert(names[s], s, **labels) for s in severities],
        },
    ]
    return yaml.safe_dump({"groups": groups}, sort_keys=False)


def platform_rules(*alerts: dict[str, Any]) -> str:
    rules = list(alerts) or [alert("PlatformTargetDown")]
    return yaml.safe_dump({"groups": [{"name": "mlops-platform", "rules": rules}]}, sort_keys=False)


LOKI = {
    "auth_enabled": False,
    "common": {"path_prefix": "/loki"},
    "schema_config": {"configs": [{"from": "2025-01-01", "store": "tsdb", "schema": "v13"}]},
    "limits_config": {"retention_period": "30d"},
    "compactor": {"working_directory": "/loki/compactor", "retention_enabled": True},
}
TEMPO = {
    "distributor": {"receivers": {"otlp": {}}},
    "compactor": {"compaction": {"block_retention": "14d"}},
    "storage": {"trace": {"backend": "local", "local": {"path": "/var/tempo/blocks"}}},
}


def config_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


# --- Grafana content --------------------------------------------------------------------------


def folder(uid: str = "mlops-folder-serving") -> Resource:
    return Resource(FOLDER, f"content-folder-{uid}", {"uid": uid, "title": uid})


def datasource(uid: str = "mlops-prometheus", kind: str = "prometheus") -> Resource:
    return Resource(
        DATASOURCE,
        f"content-datasource-{uid}",
        {"uid": uid, "type": kind, "name": f"mlops-test {kind}", "url": "http://x:9090"},
    )


def dashboard(
    uid: str = "mlops-serving-red",
    folder_uid: Any = "mlops-folder-serving",
    source: str = "mlops-prometheus",
) -> Resource:
    model = {
        "uid": uid,
        "title": "Serving RED",
        "panels": [
            {
                "type": "timeseries",
                "datasource": {"type": "prometheus", "uid": source},
                "targets": [{"expr": "up", "datasource": {"type": "prometheus", "uid": source}}],
            },
            {"type": "row", "datasource": {"type": "datasource", "uid": "-- Grafana --"}},
        ],
        "templating": {"list": [{"name": "model", "datasource": {"uid": "${datasource}"}}]},
    }
    inputs: dict[str, Any] = {"configJson": json.dumps(model), "overwrite": True}
    if folder_uid is not None:
        inputs["folder"] = folder_uid
    return Resource(DASHBOARD, f"content-dashboard-{uid}", inputs)


def namespace(name: str, level: str | None) -> Resource:
    labels = {"pod-security.kubernetes.io/enforce": level} if level else {}
    return Resource(
        "kubernetes:core/v1:Namespace",
        name,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
    )


def node_exporter(namespace_: str) -> Resource:
    """node-exporter as the platform declares it: host PID and network, /proc read-only."""
    name = "mlops-test-node-exporter"
    labels = _labels("node-exporter", name)
    container = k8s_container("node-exporter", ["--path.procfs=/host/proc"])
    container["image"] = "prom/node-exporter:v1.9.1"
    container["volumeMounts"] = [{"name": "host-0", "mountPath": "/host/proc", "readOnly": True}]
    return Resource(
        "kubernetes:apps/v1:DaemonSet",
        f"{name}-daemonset",
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": namespace_, "labels": dict(labels)},
            "spec": {
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "hostPID": True,
                        "hostNetwork": True,
                        "containers": [container],
                        "volumes": [{"name": "host-0", "hostPath": {"path": "/proc"}}],
                    },
                },
            },
        },
    )
