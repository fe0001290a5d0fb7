"""What one platform service needs in order to run, whatever runs it.

A `Workload` is the target-neutral plan of a service: image, arguments,
ports, the rendered files it reads, the secret files it reads, its data
volume, probes, resources, replicas and user. The docker target turns it into
containers and volumes, the kubernetes target into a StatefulSet or a
Deployment with ConfigMaps, Secrets and PVCs. Both read the same plan, so dev
runs the same files, flags and probes as prod.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from infra import conventions as cv
from infra.spec import Resources


@dataclass(frozen=True)
class Check:
    """An HTTP GET on `path` that answers 2xx, or without a path a TCP connect to the port."""

    port: str
    path: str | None


@dataclass(frozen=True)
class Build:
    """An image the docker target builds from this repository (the kubernetes target pulls
    the pushed one named in the spec)."""

    repository: str
    dockerfile: str  # relative to the repository root, which is the build context
    inputs: tuple[str, ...]  # files and folders whose content names the tag
    args: Mapping[str, str] = field(default_factory=dict)

    def tag(self, root: Path) -> str:
        """A content tag: the same sources give the same tag, any change a new one."""
        digest = hashlib.sha256()
        for path in sorted(_files(root, self.inputs)):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        for key, value in sorted(self.args.items()):
            digest.update(f"{key}={value}".encode())
        return f"src-{digest.hexdigest()[:12]}"


def _files(root: Path, inputs: Iterable[str]) -> Iterable[Path]:
    for name in inputs:
        path = root / name
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        else:
            yield path


READ_VERBS: frozenset[str] = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class ApiRead:
    """What a workload reads from the Kubernetes API, cluster-wide: resources of one API
    group, with read verbs only (a ClusterRole rule)."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...] = ("list", "watch")

    def __post_init__(self) -> None:
        if not set(self.verbs) <= READ_VERBS:
            raise ValueError(f"{self.verbs}: a collector's rights are read-only (get, list, watch)")


@dataclass(frozen=True)
class Workload:
    component: cv.Component
    name: str  # workload, Service and container name, e.g. mlops-prod-prometheus
    image: str  # pinned reference; for a docker build, the repository it is tagged in
    ports: Mapping[str, int]
    resources: Resources
    readiness: Check
    liveness: Check
    user: int
    command: tuple[str, ...] = ()  # replaces the image's entrypoint when set
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # container path -> content
    secret_files: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    # Variables some images only read from the environment (S3 keys); from a Secret on Kubernetes.
    secret_env: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    data_path: str | None = None  # where the persistent volume is mounted
    storage_size: str | None = None
    scratch_paths: tuple[str, ...] = ("/tmp",)  # writable, not kept (root fs is read-only)
    replicas: int = 1
    build: Build | None = None
    # Health command for the container runtime (docker); None when the image has no shell
    # or client to run one (the probes still apply on Kubernetes).
    health_command: tuple[str, ...] | None = None
    cluster_port: str | None = None  # replicas gossip on it and need stable peer names
    # The variable its pod's own name is given in (Kubernetes downward API): a replica label.
    pod_name_env: str | None = None
    # Kubernetes: its Service keeps each client on one replica (replicas differ slightly).
    sticky: bool = False
    # Namespaces whose pods it lists through the Kubernetes API (Prometheus).
    discovers_pods_in: tuple[str, ...] = ()
    cluster_reads: tuple[ApiRead, ...] = ()  # cluster-wide reads (a ClusterRole)
    # What it reaches on its host: only collectors, as cv.HOST_ACCESS allows.
    host: cv.HostAccess | None = None
    per_node: bool = False  # one per node (a DaemonSet) rather than replicas
    namespace: str | None = None  # Kubernetes: its own namespace rather than the platform's
    gpus: int = 0  # NVIDIA GPUs requested (cv.GPU_RESOURCE)
    publish: Mapping[str, int] = field(default_factory=dict)  # docker host ports by port name
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def uses_api(self) -> bool:
        """Whether its pods mount a service-account token (they call the Kubernetes API)."""
        return bool(self.discovers_pods_in or self.cluster_reads)

    @property
    def stateful(self) -> bool:
        return self.data_path is not None

    def config_digest(self) -> str:
        """Digest of the rendered files: a change rolls the pods."""
        digest = hashlib.sha256()
        for path, content in sorted(self.files.items()):
            digest.update(path.encode() + b"\0" + content.encode() + b"\0")
        return digest.hexdigest()[:16]


def wget(port: int, path: str) -> tuple[str, ...]:
    """Health command for images with busybox (the Prometheus family, Loki, Tempo, Grafana)."""
    return ("CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}")


def python_get(port: int, path: str) -> tuple[str, ...]:
    """Health command for Python images (MLflow, the serving API), which have no wget."""
    return (
        "CMD",
        "python",
        "-c",
        "import sys, urllib.request; "
        f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3).status != 200)",
    )


def secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """The value as a secret Output (kept secret through every `apply`)."""
    out: pulumi.Output[str] = pulumi.Output.from_input(value)
    return pulumi.Output.secret(out)
