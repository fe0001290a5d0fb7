"""The plan of every platform service, from its slice of the spec and the rendered files.

One function per service, each returning the `Workload` both targets run:
the flags that make the rendered files effective (retention, persistence,
remote-write receiver, HA peers), where each file is mounted, which secret
goes to which file, and the probes. Each starts from `_base`, the workload its
component's layout (`infra.layout`) and checks make, and changes only what
differs. No Pulumi resources are created here; secret values are passed
through as Outputs and never read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi

from infra import conventions as cv
from infra import layout
from infra.components.workload import ApiRead, Build, Check, Workload, python_get, wget
from infra.endpoints import Endpoints, resource_name
from infra.render.alertmanager import secret_files as alertmanager_secret_files
from infra.render.prometheus import REPLICA_ENV, remote_write_secret
from infra.render.saturation import KEEP
from infra.render.telemetry import S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV
from infra.spec import EmailReceiver, ObjectStorage, PlatformSpec, Resources, ServedModel
from infra.units import duration_seconds

C = cv.Component
SERVING_HOST_PORT = 8000  # docker: model i is published on 8000 + i
PROMETHEUS = layout.of(C.PROMETHEUS)
ALERTMANAGER = layout.of(C.ALERTMANAGER)
MLFLOW = layout.of(C.MLFLOW)
GRAFANA = layout.of(C.GRAFANA)
GRAFANA_ADMIN_PASSWORD_FILE = GRAFANA.secret("admin", "password")
GRAFANA_SMTP_PASSWORD_FILE = GRAFANA.secret("smtp", "password")


@dataclass(frozen=True)
class Inputs:
    """What every service plan draws from: the spec, where components are, the rendered
    files, the secret config values (key -> secret Output) and the repository root."""

    spec: PlatformSpec
    endpoints: Endpoints
    files: Mapping[str, str]
    secrets: Mapping[str, pulumi.Output[str]]
    root: Path
    grafana_admin_password: pulumi.Output[str] | None = None
    extra_env: Mapping[C, Mapping[str, str]] = field(default_factory=dict)

    def secret(self, key: str) -> pulumi.Output[str]:
        if key not in self.secrets:
            raise KeyError(f"secret config key {key!r} was not loaded by the program")
        return self.secrets[key]

    @property
    def listen(self) -> str:
        return self.endpoints.listen_host

    def port(self, component: C, name: str = "http") -> int:
        return cv.PORTS[component][name]


@dataclass(frozen=True)
class DockerHealth:
    """The health command docker runs in a component's container, on its readiness path
    (`infra.layout` probes) unless `path` says otherwise; no command when the image has no
    shell or client to run one."""

    command: Callable[[int, str], tuple[str, ...]] | None = wget
    path: str | None = None

    def of(self, probes: layout.Probes, ports: Mapping[str, int]) -> tuple[str, ...] | None:
        if self.command is None:
            return None
        return self.command(ports[probes.port], self.path or probes.ready)


DOCKER_HEALTH: dict[C, DockerHealth] = {
    # The contrib image is FROM scratch: no shell or client to run a health command.
    C.OTEL_COLLECTOR: DockerHealth(command=None),
    C.MLFLOW: DockerHealth(command=python_get),
    C.SERVING: DockerHealth(command=python_get, path="/livez"),
    C.ROLLBACK: DockerHealth(command=python_get, path="/livez"),
    # An Ubuntu image without wget or curl.
    C.DCGM_EXPORTER: DockerHealth(command=None),
}


def _base(
    i: Inputs,
    component: C,
    image: str,
    resources: Resources,
    storage_size: str | None = None,
) -> Workload:
    """A component's workload as its layout and checks make it: name, ports, user, probes,
    its data volume when it keeps data, its http port published. Plans change what differs."""
    home = layout.of(component)
    probes = home.probes
    return Workload(
        component=component,
        name=resource_name(i.spec, component.value),
        image=image,
        ports=home.ports,
        resources=resources,
        readiness=Check(probes.port, probes.ready),
        liveness=Check(probes.port, probes.live),
        user=home.user,
        data_path=home.data_dir if storage_size else None,
        storage_size=storage_size,
        health_command=DOCKER_HEALTH.get(component, DockerHealth()).of(probes, home.ports),
        publish={"http": home.ports["http"]} if "http" in home.ports else {},
    )


def _config(i: Inputs, component: C, rendered: str) -> dict[str, str]:
    """A rendered file where the component's layout says its config is."""
    config = layout.of(component).config
    assert config is not None
    return {config: i.files[rendered]}


def prometheus(i: Inputs) -> Workload:
    p = i.spec.prometheus
    args = [
        f"--config.file={PROMETHEUS.config}",
        f"--storage.tsdb.path={PROMETHEUS.data()}",
        f"--storage.tsdb.retention.time={p.retention_time}",
        f"--web.listen-address={i.listen}:{i.port(C.PROMETHEUS)}",
        # Tempo's metrics generator remote-writes span metrics and the service graph here.
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
        # scrape_sample_limit per target: PrometheusTargetNearSampleLimit divides by it.
        "--enable-feature=extra-scrape-metrics",
    ]
    if p.retention_size:
        args.append(f"--storage.tsdb.retention.size={p.retention_size}")
    # Alerts pending at a restart resume their `for` (see the spec's forGracePeriod).
    args.append(f"--rules.alert.for-grace-period={p.for_grace_period}")
    secret_files: dict[str, pulumi.Output[str]] = {}
    for rw in p.remote_write:
        if rw.password_secret:
            secret_files[remote_write_secret(rw.name, "password")] = i.secret(rw.password_secret)
        if rw.bearer_token_secret:
            secret_files[remote_write_secret(rw.name, "token")] = i.secret(rw.bearer_token_secret)
    rules = {
        PROMETHEUS.beside_config(name): i.files[name] for name in (cv.PLATFORM_RULES, cv.SLO_RULES)
    }
    return replace(
        _base(i, C.PROMETHEUS, i.spec.images.prometheus.ref, p.resources, p.storage_size),
        args=tuple(args),
        files={**_config(i, C.PROMETHEUS, cv.PROMETHEUS_CONFIG), **rules},
        secret_files=secret_files,
        replicas=p.replicas,
        pod_name_env=REPLICA_ENV if p.replicas > 1 else None,
        sticky=p.replicas > 1,
        **_prometheus_reads(i.spec),
    )


def _prometheus_reads(spec: PlatformSpec) -> dict[str, Any]:
    """What Prometheus lists on Kubernetes: the platform's pods, the host collectors' pods,
    and (for the kubelets) the nodes and their proxy, read-only."""
    if spec.target != "kubernetes":
        return {}
    namespaces = [spec.kubernetes.namespace]
    if spec.collectors & set(cv.HOST_ACCESS):
        namespaces.append(spec.host_namespace)
    reads = (
        (ApiRead("", ("nodes",)), ApiRead("", ("nodes/proxy",), ("get",)))
        if spec.kubelet_scraped
        else ()
    )
    return {"discovers_pods_in": tuple(namespaces), "cluster_reads": reads}


def pushgateway(i: Inputs) -> Workload:
    pg = i.spec.pushgateway
    data = layout.of(C.PUSHGATEWAY)
    return replace(
        _base(i, C.PUSHGATEWAY, i.spec.images.pushgateway.ref, pg.resources, pg.storage_size),
        args=(
            # Without a persistence file, every pushed metric is lost on restart.
            f"--persistence.file={data.data('pushgateway.db')}",
            f"--persistence.interval={pg.persistence_interval}",
            f"--web.listen-address={i.listen}:{i.port(C.PUSHGATEWAY)}",
        ),
    )


def alertmanager(i: Inputs) -> Workload:
    am = i.spec.alertmanager
    args = [
        f"--config.file={ALERTMANAGER.config}",
        f"--storage.path={ALERTMANAGER.data()}",
        f"--web.listen-address={i.listen}:{i.port(C.ALERTMANAGER)}",
    ]
    args += _gossip(i)
    # Silences and the notification log live on the volume; without it a restart forgets them.
    return replace(
        _base(i, C.ALERTMANAGER, i.spec.images.alertmanager.ref, am.resources, am.storage_size),
        args=tuple(args),
        files=_config(i, C.ALERTMANAGER, cv.ALERTMANAGER_CONFIG),
        secret_files={
            path: i.secret(key) for path, key in alertmanager_secret_files(i.spec).items()
        },
        replicas=am.replicas,
        cluster_port="cluster" if am.replicas > 1 else None,
    )


def _gossip(i: Inputs) -> list[str]:
    """Alertmanager's cluster flags: every replica lists every replica as a peer (itself
    included, which it skips), with the spec's timings; none for a single instance."""
    am = i.spec.alertmanager
    if am.replicas == 1:
        return ["--cluster.listen-address="]
    peers = i.endpoints[C.ALERTMANAGER].targets("cluster")
    return [
        f"--cluster.listen-address={i.listen}:{i.port(C.ALERTMANAGER, 'cluster')}",
        *(f"--cluster.peer={peer}" for peer in peers),
        f"--cluster.peer-timeout={am.gossip.peer_timeout}",
        f"--cluster.gossip-interval={am.gossip.gossip_interval}",
        f"--cluster.pushpull-interval={am.gossip.pushpull_interval}",
    ]


def otel_collector(i: Inputs) -> Workload:
    oc = i.spec.otel_collector
    return replace(
        _base(i, C.OTEL_COLLECTOR, i.spec.images.otel_collector.ref, oc.resources),
        args=(f"--config={layout.of(C.OTEL_COLLECTOR).config}",),
        files=_config(i, C.OTEL_COLLECTOR, cv.OTEL_COLLECTOR_CONFIG),
        replicas=oc.replicas,
        publish={
            "otlp-grpc": i.port(C.OTEL_COLLECTOR, "otlp-grpc"),
            "otlp-http": i.port(C.OTEL_COLLECTOR, "otlp-http"),
        },
    )


def _object_store_env(
    i: Inputs, storage: ObjectStorage
) -> tuple[tuple[str, ...], dict[str, pulumi.Output[str]]]:
    """Loki and Tempo expand S3 keys from the environment (never rendered into files)."""
    if storage.kind != "s3" or storage.access_key_id_secret is None:
        return (), {}
    assert storage.secret_access_key_secret is not None  # the spec pairs them
    return ("-config.expand-env=true",), {
        S3_ACCESS_KEY_ENV: i.secret(storage.access_key_id_secret),
        S3_SECRET_KEY_ENV: i.secret(storage.secret_access_key_secret),
    }


def _object_store(i: Inputs, component: C, image: str, storage: ObjectStorage) -> Workload:
    """Loki or Tempo: its config file, and its S3 keys from the environment when it has them."""
    flags, secret_env = _object_store_env(i, storage)
    config = layout.of(component).config
    rendered = cv.LOKI_CONFIG if component is C.LOKI else cv.TEMPO_CONFIG
    resources = i.spec.loki.resources if component is C.LOKI else i.spec.tempo.resources
    return replace(
        _base(i, component, image, resources, storage.size),
        args=(f"-config.file={config}", *flags),
        files=_config(i, component, rendered),
        secret_env=secret_env,
    )


def loki(i: Inputs) -> Workload:
    return _object_store(i, C.LOKI, i.spec.images.loki.ref, i.spec.loki.storage)


def tempo(i: Inputs) -> Workload:
    return _object_store(i, C.TEMPO, i.spec.images.tempo.ref, i.spec.tempo.storage)


MLFLOW_BUILD_INPUTS = ("infra/images/mlflow.Dockerfile",)
SERVING_BUILD_INPUTS = ("service", "pyproject.toml", "uv.lock")


@dataclass
class _Credentials:
    """Environment variables and the secret files they point at."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, pulumi.Output[str]] = field(default_factory=dict)


def _mlflow_backend(i: Inputs, into: _Credentials) -> str:
    """The backend store URI; PostgreSQL's password goes to a pgpass file."""
    store = i.spec.mlflow.backend_store
    if store.kind == "sqlite":
        return f"sqlite:///{MLFLOW.data('mlflow.db')}"
    assert store.password_secret is not None  # the spec requires it for postgresql
    pgpass = MLFLOW.secret("pgpass")
    into.files[pgpass] = i.secret(store.password_secret).apply(
        lambda password: f"{store.host}:{store.port}:{store.database}:{store.user}:{password}\n"
    )
    into.env["PGPASSFILE"] = pgpass
    return f"postgresql://{store.user}@{store.host}:{store.port}/{store.database}"


def _mlflow_artifacts(i: Inputs, into: _Credentials) -> None:
    """S3 artifacts: the endpoint, and the keys as an AWS shared credentials file."""
    artifacts = i.spec.mlflow.artifact_store
    if artifacts.kind != "s3":
        return
    if artifacts.endpoint_url:
        into.env["MLFLOW_S3_ENDPOINT_URL"] = str(artifacts.endpoint_url)
    if artifacts.access_key_id_secret and artifacts.secret_access_key_secret:
        credentials = MLFLOW.secret("aws-credentials")
        into.files[credentials] = pulumi.Output.all(
            i.secret(artifacts.access_key_id_secret),
            i.secret(artifacts.secret_access_key_secret),
        ).apply(
            lambda keys: (
                f"[default]\naws_access_key_id = {keys[0]}\naws_secret_access_key = {keys[1]}\n"
            )
        )
        into.env["AWS_SHARED_CREDENTIALS_FILE"] = credentials


def _mlflow_allowed_hosts(i: Inputs) -> str:
    """MLflow refuses requests whose Host header it does not know (DNS-rebinding guard): its
    Service names, and on Kubernetes the pod addresses Prometheus scrapes it by."""
    port = i.port(C.MLFLOW)
    endpoint = i.endpoints[C.MLFLOW]
    allowed = {
        endpoint.host, endpoint.address(), endpoint.host.split(".")[0],
        "localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}",
    }  # fmt: skip
    if i.spec.target == "kubernetes":
        allowed |= {"10.*", "172.*", "192.168.*"}
    return ",".join(sorted(allowed))


def _built(i: Inputs, pinned: str | None, build: Build) -> tuple[str, Build | None]:
    """The pinned image when the spec names one, else the image built from this repository."""
    if pinned is not None:
        return pinned, None
    return f"{build.repository}:{build.tag(i.root)}", build


def mlflow(i: Inputs) -> Workload:
    m = i.spec.mlflow
    credentials = _Credentials(
        # Without this, MLflow 3 starts a job runner that costs ~1 GB of memory.
        {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "HOME": "/tmp"}
    )
    backend = _mlflow_backend(i, credentials)
    _mlflow_artifacts(i, credentials)
    local = m.backend_store.kind == "sqlite" or m.artifact_store.kind == "local"
    pinned = i.spec.images.mlflow_server
    image, build = _built(
        i,
        pinned.ref if pinned else None,
        Build(
            "mlops/mlflow-server",
            "infra/images/mlflow.Dockerfile",
            MLFLOW_BUILD_INPUTS,
            {"BASE_IMAGE": i.spec.images.mlflow.ref},
        ),
    )
    args = (
        "--host", i.listen,
        "--port", str(i.port(C.MLFLOW)),
        "--backend-store-uri", backend,
        "--artifacts-destination", m.artifact_store.uri,
        "--serve-artifacts",
        "--expose-prometheus", "/tmp/mlflow-metrics",
        "--allowed-hosts", _mlflow_allowed_hosts(i),
    )  # fmt: skip
    return replace(
        _base(i, C.MLFLOW, image, m.resources, m.storage_size if local else None),
        build=build,
        command=("mlflow", "server"),
        args=args,
        env=credentials.env,
        secret_files=credentials.files,
        replicas=m.replicas,
    )


def _serving_env(i: Inputs, model: ServedModel) -> dict[str, str]:
    spec = i.spec
    collector = i.endpoints[C.OTEL_COLLECTOR]
    return {
        "MLOPS_SERVING_MLFLOW_TRACKING_URI": i.endpoints[C.MLFLOW].url(),
        "MLOPS_SERVING_MODEL_NAME": model.name,
        "MLOPS_SERVING_MODEL_ALIAS": model.alias,
        "MLOPS_SERVING_MAX_BATCH_SIZE": str(model.max_batch_size),
        "MLOPS_SERVING_MAX_BODY_BYTES": str(model.max_body_bytes),
        "MLOPS_SERVING_ALIAS_POLL_SECONDS": str(duration_seconds(model.alias_poll_interval)),
        "MLOPS_SERVING_TRACE_SAMPLE_RATIO": str(spec.serving.trace_sample_ratio),
        "MLOPS_SERVING_LOG_LEVEL": spec.serving.log_level,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url("otlp-grpc"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_SERVICE_NAME": "mlops-serving",
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={spec.environment},"
        f"service.namespace={spec.name}",
        "BENTOML_HOME": "/tmp/bentoml",
        "BENTOML_DO_NOT_TRACK": "true",
        **i.extra_env.get(C.SERVING, {}),
    }


def _serving_image(i: Inputs) -> tuple[str, Build | None]:
    """The serving image: pinned, or built from service/ (the rollback service runs it too)."""
    spec = i.spec
    return _built(
        i,
        spec.images.serving.ref if spec.images.serving else None,
        Build(
            "mlops/serving",
            "service/Dockerfile",
            SERVING_BUILD_INPUTS,
            {"BASE_IMAGE": spec.images.serving_base.ref},
        ),
    )


def serving(i: Inputs, model: ServedModel, index: int) -> Workload:
    spec = i.spec
    image, build = _serving_image(i)
    return replace(
        _base(i, C.SERVING, image, model.resources),
        name=resource_name(spec, f"serving-{model.name}"),
        build=build,
        env=_serving_env(i, model),
        replicas=model.replicas,
        publish={"http": SERVING_HOST_PORT + index},
        labels={cv.LABEL_MODEL: model.name},
        gpus=model.gpus,
    )


ROLLBACK = layout.of(C.ROLLBACK)
ROLLBACK_TOKEN_FILE = ROLLBACK.secret("token")


def rollback(i: Inputs) -> Workload:
    """service.rollback in the serving image: the guards from the spec, the token as a secret
    file (the same secret Alertmanager sends from its own file), MLflow and the Pushgateway
    where the endpoints say; published nowhere (only Alertmanager and Prometheus call it)."""
    r = i.spec.rollback
    assert r.token_secret is not None  # the spec requires it when enabled
    image, build = _serving_image(i)
    env = {
        "MLOPS_ROLLBACK_MLFLOW_TRACKING_URI": i.endpoints[C.MLFLOW].url(),
        "MLOPS_ROLLBACK_PUSHGATEWAY_URL": i.endpoints[C.PUSHGATEWAY].url(),
        "MLOPS_ROLLBACK_TOKEN_FILE": ROLLBACK_TOKEN_FILE,
        "MLOPS_ROLLBACK_ALERTS": ",".join(r.alerts),
        "MLOPS_ROLLBACK_MODELS": ",".join(m.name for m in i.spec.serving.models),
        "MLOPS_ROLLBACK_PROMOTED_WITHIN_SECONDS": str(duration_seconds(r.promoted_within)),
        "MLOPS_ROLLBACK_COOLDOWN_SECONDS": str(duration_seconds(r.cooldown)),
        "MLOPS_ROLLBACK_HOST": i.listen,
        "MLOPS_ROLLBACK_PORT": str(i.port(C.ROLLBACK)),
        "MLOPS_ROLLBACK_LOG_LEVEL": i.spec.serving.log_level,
        "HOME": "/tmp",
    }
    return replace(
        _base(i, C.ROLLBACK, image, r.resources),
        build=build,
        command=("python", "-m", "service.rollback"),
        env=env,
        secret_files={ROLLBACK_TOKEN_FILE: i.secret(r.token_secret)},
        publish={},
    )


def _grafana_smtp(i: Inputs) -> tuple[dict[str, str], dict[str, pulumi.Output[str]]]:
    """Grafana sends its e-mail contact points itself: through the relay of the first
    e-mail receiver, with that receiver's sender and credentials."""
    email = next((r for r in i.spec.alertmanager.receivers if isinstance(r, EmailReceiver)), None)
    if email is None:
        return {}, {}
    env = {
        "GF_SMTP_ENABLED": "true",
        "GF_SMTP_HOST": email.smarthost,
        "GF_SMTP_FROM_ADDRESS": email.from_,
        "GF_SMTP_STARTTLS_POLICY": "MandatoryStartTLS"
        if email.require_tls
        else "OpportunisticStartTLS",
    }
    files: dict[str, pulumi.Output[str]] = {}
    if email.auth_username and email.auth_password_secret:
        env["GF_SMTP_USER"] = email.auth_username
        env["GF_SMTP_PASSWORD__FILE"] = GRAFANA_SMTP_PASSWORD_FILE
        files[GRAFANA_SMTP_PASSWORD_FILE] = i.secret(email.auth_password_secret)
    return env, files


def grafana(i: Inputs) -> Workload:
    g = i.spec.grafana
    if i.grafana_admin_password is None:
        raise ValueError("a self-run Grafana needs its admin password")
    port = i.port(C.GRAFANA)
    smtp_env, smtp_files = _grafana_smtp(i)
    env = {
        "GF_SERVER_ROOT_URL": str(g.url),
        "GF_SERVER_HTTP_ADDR": i.listen,
        "GF_SERVER_HTTP_PORT": str(port),
        "GF_SECURITY_ADMIN_USER": g.admin_user,
        "GF_SECURITY_ADMIN_PASSWORD__FILE": GRAFANA_ADMIN_PASSWORD_FILE,
        "GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_PATHS_DATA": GRAFANA.data(),
        "GF_LOG_MODE": "console",
        "GF_LOG_CONSOLE_FORMAT": "json",
    }
    return replace(
        _base(i, C.GRAFANA, i.spec.images.grafana.ref, g.resources, "1Gi"),
        env={**env, **smtp_env},
        secret_files={GRAFANA_ADMIN_PASSWORD_FILE: i.grafana_admin_password, **smtp_files},
        publish={"http": urlparse(str(g.url)).port or port},
    )


def _collector(i: Inputs, component: C, image: str, resources: Resources) -> Workload:
    """A collector: scraped on its http port, published nowhere, and given exactly the host
    access cv.HOST_ACCESS allows it (its host paths mounted read-only where it reads them)."""
    host = cv.HOST_ACCESS.get(component)
    kubernetes = i.spec.target == "kubernetes"
    return replace(
        _base(i, component, image, resources),
        host=host,
        per_node=host is not None,
        namespace=i.spec.host_namespace if host and kubernetes else None,
        publish={},
    )


def node_exporter(i: Inputs) -> Workload:
    s = i.spec.saturation.node_exporter
    host = cv.HOST_ACCESS[C.NODE_EXPORTER]
    mounts = dict(host.paths)
    args = (
        f"--path.procfs={mounts['/proc']}",
        f"--path.sysfs={mounts['/sys']}",
        f"--path.rootfs={mounts['/']}",
        f"--web.listen-address={i.listen}:{i.port(C.NODE_EXPORTER)}",
        # Container runtimes' and the kubelet's own mounts are the containers' business.
        "--collector.filesystem.mount-points-exclude="
        "^/(dev|proc|sys|run/.+|var/lib/docker/.+|var/lib/kubelet/.+)($|/)",
    )
    return replace(
        _collector(i, C.NODE_EXPORTER, i.spec.images.node_exporter.ref, s.resources), args=args
    )


def cadvisor(i: Inputs) -> Workload:
    s = i.spec.saturation.cadvisor
    args = (
        f"--listen_ip={i.listen}",
        f"--port={i.port(C.CADVISOR)}",
        "--docker_only=true",
        # Container labels would become one label each on every series.
        "--store_container_labels=false",
        "--housekeeping_interval=10s",
    )
    return replace(_collector(i, C.CADVISOR, i.spec.images.cadvisor.ref, s.resources), args=args)


# What kube-state-metrics lists.
KUBE_STATE_READS = (
    ApiRead("", ("pods", "persistentvolumeclaims", "nodes")),
    ApiRead("apps", ("deployments", "statefulsets", "daemonsets")),
)
# Its allowlist: the series the rules and dashboards read (kept where every collector's are).
KUBE_STATE_SERIES = KEEP[cv.JOB[C.KUBE_STATE_METRICS]]


def kube_state_metrics(i: Inputs) -> Workload:
    s = i.spec.saturation.kube_state_metrics
    namespaces = [i.spec.kubernetes.namespace, i.spec.host_namespace]
    resources = sorted(r.split("/")[0] for read in KUBE_STATE_READS for r in read.resources)
    args = (
        f"--host={i.listen}",
        f"--port={i.port(C.KUBE_STATE_METRICS)}",
        f"--telemetry-host={i.listen}",
        f"--telemetry-port={i.port(C.KUBE_STATE_METRICS, 'telemetry')}",
        f"--resources={','.join(resources)}",
        # The platform's objects only (nodes are cluster-wide), and only the series read.
        f"--namespaces={','.join(namespaces)}",
        # Entries are regular expressions matched from the start: anchored, or
        # kube_pod_status_ready would let kube_pod_status_ready_time through too.
        f"--metric-allowlist={','.join(f'{name}$' for name in KUBE_STATE_SERIES)}",
    )
    return replace(
        _collector(i, C.KUBE_STATE_METRICS, i.spec.images.kube_state_metrics.ref, s.resources),
        args=args,
        cluster_reads=KUBE_STATE_READS,
    )


def dcgm_exporter(i: Inputs) -> Workload:
    s = i.spec.saturation.dcgm_exporter
    args = [f"--address={i.listen}:{i.port(C.DCGM_EXPORTER)}"]
    if i.spec.target == "kubernetes":
        args.append("--kubernetes=true")  # names the pod using each GPU
    workload = _collector(i, C.DCGM_EXPORTER, i.spec.images.dcgm_exporter.ref, s.resources)
    if i.spec.target == "docker" and workload.host is not None:
        # The kubelet's pod-resources socket exists only on Kubernetes nodes.
        workload = replace(workload, host=replace(workload.host, paths=()))
    return replace(workload, args=tuple(args))


COLLECTOR_PLANS: Mapping[C, Callable[[Inputs], Workload]] = {
    C.NODE_EXPORTER: node_exporter,
    C.CADVISOR: cadvisor,
    C.KUBE_STATE_METRICS: kube_state_metrics,
    C.DCGM_EXPORTER: dcgm_exporter,
}


def plan(i: Inputs) -> list[Workload]:
    """Every service the stack runs."""
    workloads = [
        mlflow(i),
        prometheus(i),
        pushgateway(i),
        alertmanager(i),
        otel_collector(i),
        loki(i),
        tempo(i),
        *(serving(i, m, n) for n, m in enumerate(i.spec.serving.models)),
    ]
    if i.spec.grafana.deployed:
        workloads.append(grafana(i))
    if i.spec.rollback.enabled:
        workloads.append(rollback(i))
    return workloads + [COLLECTOR_PLANS[c](i) for c in sorted(i.spec.collectors)]
