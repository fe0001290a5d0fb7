"""Every stateful component keeps its data on persistent storage.

Stateful components (Prometheus' TSDB, Alertmanager's silences and
notification log, the Pushgateway's persistence file, Loki's and Tempo's
blocks, Grafana's database; MLflow when it uses sqlite or local artifacts)
lose that data on every restart without a volume. On Kubernetes the data
directory must be on a PersistentVolumeClaim (a StatefulSet's
volumeClaimTemplate or a pod volume that names a claim); on docker, on a
named volume. Where the component names its data directory in a flag
(`--storage.tsdb.path`, `--storage.path`, `--persistence.file`,
`GF_PATHS_DATA`, MLflow's sqlite URI and artifact path), that directory must
be on the volume; otherwise any persistent mount will do.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "persistent-storage"
C = cv.Component
GRAFANA_DEFAULT_DATA = "/var/lib/grafana"


def _local_path(uri: str | None) -> str | None:
    """An absolute local path from a path or file: URI; None for remote stores (s3:, ...)."""
    if not uri:
        return None
    if uri.startswith("file://"):
        uri = uri.removeprefix("file://")
    if uri.startswith("/"):
        return uri
    return None


def data_paths(component: str, args: list[str], env: Mapping[str, Any]) -> list[str] | None:
    """Where the component writes what it must keep; None when only its config file says so,
    and [] when it keeps nothing locally (MLflow on a database and an object store)."""
    if component == C.PROMETHEUS:
        path = shapes.flag(args, "--storage.tsdb.path")
        return [path] if path else None
    if component == C.ALERTMANAGER:
        path = shapes.flag(args, "--storage.path")
        return [path] if path else None
    if component == C.PUSHGATEWAY:
        path = shapes.flag(args, "--persistence.file")
        return [posixpath.dirname(path) or "/"] if path else []
    if component == C.GRAFANA:
        value = env.get("GF_PATHS_DATA")
        return [value if isinstance(value, str) and value else GRAFANA_DEFAULT_DATA]
    if component == C.MLFLOW:
        paths = []
        backend = shapes.flag(args, "--backend-store-uri") or ""
        if backend.startswith("sqlite:///"):
            database = backend.removeprefix("sqlite:///")
            if not database.startswith("/"):
                return None  # relative to the working directory: any persistent mount
            paths.append(posixpath.dirname(database))
        for name in ("--artifacts-destination", "--default-artifact-root"):
            local = _local_path(shapes.flag(args, name))
            if local:
                paths.append(local)
        return paths
    return None


def _on(path: str, mounts: list[str]) -> bool:
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def _judge(
    subject: str,
    component: str,
    args: list[str],
    env: Mapping[str, Any],
    *,
    mounts: list[str],
    how: str,
) -> list[str]:
    paths = data_paths(component, args, env)
    if component == C.PUSHGATEWAY and not shapes.flag(args, "--persistence.file"):
        return [
            f"{subject}: the Pushgateway runs without --persistence.file, so every pushed "
            f"metric is lost on restart; pass --persistence.file=<dir>/pushgateway.db on {how}."
        ]
    if paths == []:
        return []
    if not mounts:
        return [
            f"{subject}: {component} keeps its data in the container and loses it on every "
            f"restart; put {', '.join(paths or ['its data directory'])} on {how}."
        ]
    lost = [p for p in paths or [] if not _on(p, mounts)]
    if lost:
        return [
            f"{subject}: {component} writes {', '.join(lost)} outside its persistent volume "
            f"({', '.join(mounts)}); mount {how} there."
        ]
    return []


def _k8s(resource_type: str, props: Props, component: str) -> list[str]:
    pod = shapes.pod_spec(resource_type, props)
    claims = (
        {
            shapes.dig(t, "metadata", "name")
            for t in shapes.as_list(shapes.dig(props, "spec", "volumeClaimTemplates"))
        }
        if resource_type == shapes.STATEFULSET
        else set()
    )
    claims |= {
        v.get("name")
        for v in shapes.as_list(pod.get("volumes"))
        if isinstance(v, Mapping) and "persistentVolumeClaim" in v
    }
    main = shapes.containers(pod, init=False)
    judged = [c for c in main if c.get("name") == component] or main[:1]
    problems = []
    for container in judged:
        mounts = [
            str(m.get("mountPath"))
            for m in shapes.as_list(container.get("volumeMounts"))
            if isinstance(m, Mapping) and m.get("name") in claims
        ]
        args = [
            str(a)
            for a in shapes.as_list(container.get("command"))
            + shapes.as_list(container.get("args"))
        ]
        problems += _judge(
            shapes.container_label(resource_type, props, container),
            component,
            args,
            shapes.k8s_env(container),
            mounts=mounts,
            how="a PersistentVolumeClaim (a StatefulSet volumeClaimTemplate)",
        )
    return problems


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    component = shapes.component(resource_type, props)
    stateful = set(settings["statefulComponents"]) | {C.MLFLOW.value}
    if component is None or component not in stateful:
        return []
    if resource_type == shapes.DOCKER_CONTAINER:
        volumes = props.get("volumes")
        if is_unknown(volumes):
            return []
        mounts = [
            str(v.get("containerPath"))
            for v in shapes.as_list(volumes)
            if isinstance(v, Mapping) and v.get("volumeName")
        ]
        return _judge(
            shapes.describe(resource_type, props),
            component,
            shapes.workload_args(resource_type, props)[0],
            shapes.docker_env(props),
            mounts=mounts,
            how="a named docker volume",
        )
    return _k8s(resource_type, props, component)


POLICY = ResourcePolicy(
    name=NAME,
    description="Every stateful component keeps its data on a PersistentVolumeClaim (Kubernetes) "
    "or a named volume (docker).",
    resource_types=shapes.K8S_SERVICES | {shapes.DOCKER_CONTAINER},
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.HIGH,
    remediation="Run stateful components as StatefulSets with a volumeClaimTemplate mounted at "
    "their data directory (named volumes on docker).",
    config={
        "statefulComponents": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                C.PROMETHEUS.value,
                C.ALERTMANAGER.value,
                C.PUSHGATEWAY.value,
                C.LOKI.value,
                C.TEMPO.value,
                C.GRAFANA.value,
            ],
            "description": "Components (app.kubernetes.io/name) whose data must persist; MLflow "
            "is judged by its flags (sqlite or local artifacts need a volume).",
        }
    },
    tags=["reliability", "data"],
)
