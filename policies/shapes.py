"""Reading resources as the engine receives them: Kubernetes workloads, Docker containers,
config files, images and flags.

Props are plain data from `framework.snapshot` (camelCase wire names, numbers
possibly floats, values not known during preview as `UNKNOWN`). Everything
here is a pure function; policies build their checks from these.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml

from infra import conventions as cv
from policies.framework import Props, is_unknown

# Where each kind of Kubernetes workload keeps its pod spec.
POD_SPEC_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
K8S_WORKLOADS: Final = frozenset(POD_SPEC_PATHS)
# Workloads that keep running (probes, replicas and budgets apply to them).
K8S_SERVICES: Final = frozenset(
    {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:apps/v1:ReplicaSet",
        "kubernetes:core/v1:Pod",
    }
)
K8S_REPLICATED: Final = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"}
)
STATEFULSET: Final = "kubernetes:apps/v1:StatefulSet"
CONFIGMAP: Final = "kubernetes:core/v1:ConfigMap"
PDB: Final = "kubernetes:policy/v1:PodDisruptionBudget"
DOCKER_CONTAINER: Final = "docker:index/container:Container"
DOCKER_REMOTE_IMAGE: Final = "docker:index/remoteImage:RemoteImage"
DOCKER_IMAGE: Final = "docker:index/image:Image"
GRAFANA_PROVIDER: Final = "pulumi:providers:grafana"
GRAFANA_DASHBOARD: Final = "grafana:oss/dashboard:Dashboard"
GRAFANA_FOLDER: Final = "grafana:oss/folder:Folder"
GRAFANA_DATASOURCE: Final = "grafana:oss/dataSource:DataSource"
WORKLOADS: Final = K8S_WORKLOADS | {DOCKER_CONTAINER}

# Image repositories (last path segment) of the platform's components, for workloads
# without the app.kubernetes.io/name label.
_IMAGE_COMPONENTS: Final[dict[str, str]] = {
    "prometheus": cv.Component.PROMETHEUS.value,
    "alertmanager": cv.Component.ALERTMANAGER.value,
    "pushgateway": cv.Component.PUSHGATEWAY.value,
    "loki": cv.Component.LOKI.value,
    "tempo": cv.Component.TEMPO.value,
    "grafana": cv.Component.GRAFANA.value,
    "mlflow": cv.Component.MLFLOW.value,
    "mlflow-server": cv.Component.MLFLOW.value,
    "opentelemetry-collector-contrib": cv.Component.OTEL_COLLECTOR.value,
    "opentelemetry-collector": cv.Component.OTEL_COLLECTOR.value,
    "node-exporter": cv.Component.NODE_EXPORTER.value,
    "cadvisor": cv.Component.CADVISOR.value,
    "kube-state-metrics": cv.Component.KUBE_STATE_METRICS.value,
    "dcgm-exporter": cv.Component.DCGM_EXPORTER.value,
}


def dig(node: Any, *path: str | int) -> Any:
    """The value at `path`, None when any step is missing (UNKNOWN when a step is unknown)."""
    for step in path:
        if is_unknown(node):
            return node
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
            node = node[step]
        else:
            if not isinstance(node, Mapping):
                return None
            node = node.get(step)
    return node


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def as_int(value: Any, default: int) -> int:
    """A count from props (numbers travel as floats); `default` when absent or unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def short_type(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def describe(resource_type: str, props: Props) -> str:
    """How a message names a resource: its kind and its own name."""
    if resource_type.startswith("kubernetes:"):
        name = dig(props, "metadata", "name")
        return f"{short_type(resource_type)} {name if isinstance(name, str) else '(unnamed)'}"
    if resource_type == DOCKER_CONTAINER:
        name = props.get("name")
        return f"docker container {name if isinstance(name, str) else '(unnamed)'}"
    if resource_type in (DOCKER_REMOTE_IMAGE, DOCKER_IMAGE):
        return f"docker {short_type(resource_type)}"  # the message names the image itself
    if resource_type == GRAFANA_PROVIDER:
        return "the Grafana provider"
    for key in ("name", "uid", "title"):
        if isinstance(props.get(key), str):
            return f"{short_type(resource_type)} {props[key]}"
    return short_type(resource_type)


# --- Kubernetes -----------------------------------------------------------------------------


def pod_spec(resource_type: str, props: Props) -> dict[str, Any]:
    return as_dict(dig(props, *POD_SPEC_PATHS.get(resource_type, ("__none__",))))


def pod_template_labels(resource_type: str, props: Props) -> dict[str, Any]:
    path = POD_SPEC_PATHS.get(resource_type, ("__none__",))[:-1]
    return as_dict(dig(props, *path, "metadata", "labels")) if path else {}


def containers(pod: Mapping[str, Any], init: bool = True) -> list[dict[str, Any]]:
    """The pod's containers (and, with `init`, its init and ephemeral containers)."""
    kinds = ("containers", "initContainers", "ephemeralContainers") if init else ("containers",)
    return [as_dict(c) for kind in kinds for c in as_list(pod.get(kind)) if isinstance(c, Mapping)]


def container_label(resource_type: str, props: Props, container: Mapping[str, Any]) -> str:
    name = container.get("name")
    return f"{describe(resource_type, props)}, container {name if isinstance(name, str) else '?'}"


def k8s_env(container: Mapping[str, Any]) -> dict[str, Any]:
    """Plain environment values by name; variables taken from elsewhere (valueFrom) map to None."""
    env: dict[str, Any] = {}
    for item in as_list(container.get("env")):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            env[item["name"]] = None if "valueFrom" in item else item.get("value", "")
    return env


def replicas(props: Props) -> int:
    return as_int(dig(props, "spec", "replicas"), 1)


def namespace(props: Props) -> Any:
    return dig(props, "metadata", "namespace")


# --- Docker -----------------------------------------------------------------------------------


def docker_env(props: Props) -> dict[str, Any]:
    """The container's `envs` ("K=V") as a mapping; an unknown entry maps its name to UNKNOWN."""
    env: dict[str, Any] = {}
    for item in as_list(props.get("envs")):
        if isinstance(item, str) and "=" in item:
            key, value = item.split("=", 1)
            env[key] = value
    return env


def docker_labels(props: Props) -> dict[str, Any]:
    return {
        str(item.get("label")): item.get("value")
        for item in as_list(props.get("labels"))
        if isinstance(item, Mapping)
    }


def docker_args(props: Props) -> list[str]:
    """The container's arguments (the docker provider calls them `command`)."""
    return [str(a) for a in as_list(props.get("command")) if isinstance(a, str)]


# --- what a workload is -----------------------------------------------------------------------


def labels(resource_type: str, props: Props) -> dict[str, Any]:
    if resource_type == DOCKER_CONTAINER:
        return docker_labels(props)
    return {
        **as_dict(dig(props, "metadata", "labels")),
        **pod_template_labels(resource_type, props),
    }


def component(resource_type: str, props: Props) -> str | None:
    """The platform component a workload or its config belongs to: the app.kubernetes.io/name
    label, else the repository of its image."""
    name = labels(resource_type, props).get(cv.LABEL_NAME)
    if isinstance(name, str):
        return name
    images = [props.get("image")] if resource_type == DOCKER_CONTAINER else []
    images += [c.get("image") for c in containers(pod_spec(resource_type, props), init=False)]
    for image in images:
        if isinstance(image, str):
            found = _IMAGE_COMPONENTS.get(parse_image(image).repository.rsplit("/", 1)[-1])
            if found:
                return found
    return None


def _image_components(resource_type: str, props: Props) -> set[str | None]:
    """The components the workload's known images belong to (None: no platform image); an
    image not known yet (a preview of a pulled image's digest) is judged at `up`."""
    images = [props.get("image")] if resource_type == DOCKER_CONTAINER else []
    images += [c.get("image") for c in containers(pod_spec(resource_type, props))]
    return {
        _IMAGE_COMPONENTS.get(parse_image(i).repository.rsplit("/", 1)[-1])
        if isinstance(i, str)
        else None
        for i in images
        if not is_unknown(i)
    }


def host_access(resource_type: str, props: Props) -> cv.HostAccess | None:
    """The host access a workload may have (cv.HOST_ACCESS, the one exception): only a
    collector that reads its host, named so by its label and run from that collector's image
    alone (every container, init containers too). None for everything else."""
    name = labels(resource_type, props).get(cv.LABEL_NAME)
    allowed = {c.value: a for c, a in cv.HOST_ACCESS.items()}.get(name) if name else None
    if allowed is None or not _image_components(resource_type, props) <= {name}:
        return None
    return allowed


def workload_args(resource_type: str, props: Props) -> list[list[str]]:
    """Each main container's arguments (command and args, as one list)."""
    if resource_type == DOCKER_CONTAINER:
        entry = [str(a) for a in as_list(props.get("entrypoints")) if isinstance(a, str)]
        return [entry + docker_args(props)]
    return [
        [str(a) for a in as_list(c.get("command")) + as_list(c.get("args")) if isinstance(a, str)]
        for c in containers(pod_spec(resource_type, props), init=False)
    ]


def flag(args: Sequence[str], *names: str) -> str | None:
    """The value of a command-line flag (`--name=value` or `--name value`), None when absent."""
    for index, arg in enumerate(args):
        for name in names:
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
            if arg == name and index + 1 < len(args):
                return args[index + 1]
    return None


# --- images -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None


def parse_image(reference: str) -> ImageRef:
    """`registry:5000/repo/name:tag@sha256:...` split into repository, tag and digest."""
    rest, _, digest = reference.partition("@")
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = rest.rsplit(":", 1)
    else:
        repository, tag = rest, None
    return ImageRef(repository, tag or None, digest or None)


# --- config files ------------------------------------------------------------------------------

_WORLD_READABLE = re.compile(r"^0?[0-7]{2}[4-7]$")


@dataclass(frozen=True)
class ConfigFile:
    """A file a workload reads its configuration from: a ConfigMap key or an uploaded file."""

    where: str  # e.g. "ConfigMap mlops-prod-loki-config, key loki.yaml"
    name: str  # key or path
    text: str

    def document(self) -> Any:
        """The file parsed as YAML (JSON is YAML too), None when it is neither."""
        try:
            return yaml.safe_load(self.text)
        except yaml.YAMLError:
            return None


def config_files(resource_type: str, props: Props) -> Iterator[ConfigFile]:
    """ConfigMap values, and the files uploaded into a docker container that everyone may read
    (owner-only uploads are where the docker target keeps secrets)."""
    if resource_type == CONFIGMAP:
        for key, text in as_dict(props.get("data")).items():
            if isinstance(text, str):
                yield ConfigFile(f"{describe(resource_type, props)}, key {key}", key, text)
    elif resource_type == DOCKER_CONTAINER:
        for upload in as_list(props.get("uploads")):
            if not isinstance(upload, Mapping):
                continue
            path, text, mode = upload.get("file"), upload.get("content"), upload.get("permissions")
            if not isinstance(path, str) or not isinstance(text, str):
                continue
            if isinstance(mode, str) and not _WORLD_READABLE.match(mode):
                continue
            yield ConfigFile(f"{describe(resource_type, props)}, file {path}", path, text)
