"""The plan of every platform service, from its slice of the spec and the rendered files.

One function per service, each returning the `Workload` both targets run:
the flags that make the rendered files effective (retention, persistence,
remote-write receiver, HA peers), where each file is mounted, which secret
goes to which file, and the probes. No Pulumi resources are created here;
secret values are passed through as Outputs and never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pulumi

from infra import conventions as cv
from infra.components.workload import Build, HttpCheck, Workload, python_get, wget
from infra.endpoints import Endpoints, resource_name
from infra.render.alertmanager import secret_files as alertmanager_secret_files
from infra.render.telemetry import LOKI_DATA, S3_ACCESS_KEY_ENV, S3_SECRET_KEY_ENV
from infra.spec import EmailReceiver, ObjectStorage, PlatformSpec, ServedModel
from infra.units import duration_seconds

C = cv.Component
NOBODY = 65534  # the Prometheus images run as nobody
APP_USER = 10001  # our images and Loki/Tempo/the collector
GRAFANA_USER = 472
SERVING_HOST_PORT = 8000  # docker: model i is published on 8000 + i
GRAFANA_ADMIN_PASSWORD_FILE = "/etc/grafana/secrets/admin-password"
GRAFANA_SMTP_PASSWORD_FILE = "/etc/grafana/secrets/smtp-password"
MLFLOW_SECRETS_DIR = "/etc/mlflow/secrets"
MLFLOW_DATA = "/mlflow"


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


def _probe(port: str, path: str) -> HttpCheck:
    return HttpCheck(port, path)


def prometheus(i: Inputs) -> Workload:
    p = i.spec.prometheus
    port = i.port(C.PROMETHEUS)
    args = [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        f"--storage.tsdb.retention.time={p.retention_time}",
        f"--web.listen-address={i.listen}:{port}",
        # Tempo's metrics generator remote-writes span metrics and the service graph here.
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
    ]
    if p.retention_size:
        args.append(f"--storage.tsdb.retention.size={p.retention_size}")
    secret_files: dict[str, pulumi.Output[str]] = {}
    for rw in p.remote_write:
        if rw.password_secret:
            path = cv.secret_file(cv.PROMETHEUS_SECRETS_DIR, rw.name, "password")
            secret_files[path] = i.secret(rw.password_secret)
        if rw.bearer_token_secret:
            path = cv.secret_file(cv.PROMETHEUS_SECRETS_DIR, rw.name, "token")
            secret_files[path] = i.secret(rw.bearer_token_secret)
    return Workload(
        component=C.PROMETHEUS,
        name=resource_name(i.spec, C.PROMETHEUS.value),
        image=i.spec.images.prometheus.ref,
        ports=cv.PORTS[C.PROMETHEUS],
        resources=p.resources,
        readiness=_probe("http", "/-/ready"),
        liveness=_probe("http", "/-/healthy"),
        user=NOBODY,
        args=tuple(args),
        files={
            "/etc/prometheus/prometheus.yml": i.files[cv.PROMETHEUS_CONFIG],
            f"/etc/prometheus/{cv.PLATFORM_RULES}": i.files[cv.PLATFORM_RULES],
            f"/etc/prometheus/{cv.SLO_RULES}": i.files[cv.SLO_RULES],
        },
        secret_files=secret_files,
        data_path="/prometheus",
        storage_size=p.storage_size,
        replicas=p.replicas,
        health_command=wget(port, "/-/ready"),
        discovers_pods=i.spec.target == "kubernetes",
        publish={"http": port},
    )


def pushgateway(i: Inputs) -> Workload:
    pg = i.spec.pushgateway
    port = i.port(C.PUSHGATEWAY)
    return Workload(
        component=C.PUSHGATEWAY,
        name=resource_name(i.spec, C.PUSHGATEWAY.value),
        image=i.spec.images.pushgateway.ref,
        ports=cv.PORTS[C.PUSHGATEWAY],
        resources=pg.resources,
        readiness=_probe("http", "/-/ready"),
        liveness=_probe("http", "/-/healthy"),
        user=NOBODY,
        args=(
            # Without a persistence file, every pushed metric is lost on restart.
            "--persistence.file=/data/pushgateway.db",
            f"--persistence.interval={pg.persistence_interval}",
            f"--web.listen-address={i.listen}:{port}",
        ),
        data_path="/data",
        storage_size=pg.storage_size,
        health_command=wget(port, "/-/ready"),
        publish={"http": port},
    )


def alertmanager(i: Inputs) -> Workload:
    am = i.spec.alertmanager
    port = i.port(C.ALERTMANAGER)
    args = [
        "--config.file=/etc/alertmanager/alertmanager.yml",
        "--storage.path=/alertmanager",
        f"--web.listen-address={i.listen}:{port}",
    ]
    if am.replicas == 1:
        args.append("--cluster.listen-address=")  # no gossip for a single instance
    return Workload(
        component=C.ALERTMANAGER,
        name=resource_name(i.spec, C.ALERTMANAGER.value),
        image=i.spec.images.alertmanager.ref,
        ports=cv.PORTS[C.ALERTMANAGER],
        resources=am.resources,
        readiness=_probe("http", "/-/ready"),
        liveness=_probe("http", "/-/healthy"),
        user=NOBODY,
        args=tuple(args),
        files={"/etc/alertmanager/alertmanager.yml": i.files[cv.ALERTMANAGER_CONFIG]},
        secret_files={
            path: i.secret(key) for path, key in alertmanager_secret_files(i.spec).items()
        },
        # Silences and the notification log live here; without it a restart forgets them.
        data_path="/alertmanager",
        storage_size=am.storage_size,
        replicas=am.replicas,
        health_command=wget(port, "/-/ready"),
        cluster_port="cluster" if am.replicas > 1 else None,
        publish={"http": port},
    )


def otel_collector(i: Inputs) -> Workload:
    oc = i.spec.otel_collector
    config = "/etc/otelcol-contrib/config.yaml"
    return Workload(
        component=C.OTEL_COLLECTOR,
        name=resource_name(i.spec, C.OTEL_COLLECTOR.value),
        image=i.spec.images.otel_collector.ref,
        ports=cv.PORTS[C.OTEL_COLLECTOR],
        resources=oc.resources,
        readiness=_probe("health", "/"),
        liveness=_probe("health", "/"),
        user=APP_USER,
        args=(f"--config={config}",),
        files={config: i.files[cv.OTEL_COLLECTOR_CONFIG]},
        replicas=oc.replicas,
        # The contrib image is FROM scratch: no shell or client to run a health command.
        health_command=None,
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


def loki(i: Inputs) -> Workload:
    port = i.port(C.LOKI)
    flags, secret_env = _object_store_env(i, i.spec.loki.storage)
    return Workload(
        component=C.LOKI,
        name=resource_name(i.spec, C.LOKI.value),
        image=i.spec.images.loki.ref,
        ports=cv.PORTS[C.LOKI],
        resources=i.spec.loki.resources,
        readiness=_probe("http", "/ready"),
        liveness=_probe("http", "/metrics"),  # /ready flaps while the ring settles
        user=APP_USER,
        args=("-config.file=/etc/loki/loki.yaml", *flags),
        files={"/etc/loki/loki.yaml": i.files[cv.LOKI_CONFIG]},
        secret_env=secret_env,
        data_path=LOKI_DATA,
        storage_size=i.spec.loki.storage.size,
        health_command=wget(port, "/ready"),
        publish={"http": port},
    )


def tempo(i: Inputs) -> Workload:
    port = i.port(C.TEMPO)
    flags, secret_env = _object_store_env(i, i.spec.tempo.storage)
    return Workload(
        component=C.TEMPO,
        name=resource_name(i.spec, C.TEMPO.value),
        image=i.spec.images.tempo.ref,
        ports=cv.PORTS[C.TEMPO],
        resources=i.spec.tempo.resources,
        readiness=_probe("http", "/ready"),
        liveness=_probe("http", "/metrics"),
        user=APP_USER,
        args=("-config.file=/etc/tempo/tempo.yaml", *flags),
        files={"/etc/tempo/tempo.yaml": i.files[cv.TEMPO_CONFIG]},
        secret_env=secret_env,
        data_path="/var/tempo",
        storage_size=i.spec.tempo.storage.size,
        health_command=wget(port, "/ready"),
        publish={"http": port},
    )


MLFLOW_BUILD_INPUTS = ("infra/images/mlflow.Dockerfile",)
SERVING_BUILD_INPUTS = ("service", "pyproject.toml", "uv.lock")


def mlflow(i: Inputs) -> Workload:
    m = i.spec.mlflow
    port = i.port(C.MLFLOW)
    endpoint = i.endpoints[C.MLFLOW]
    secret_files: dict[str, pulumi.Output[str]] = {}
    env = {
        # Without this, MLflow 3 starts a job runner that costs ~1 GB of memory.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "HOME": "/tmp",
    }
    store = m.backend_store
    if store.kind == "sqlite":
        backend = f"sqlite:///{MLFLOW_DATA}/mlflow.db"
    else:
        assert store.password_secret is not None  # the spec requires it for postgresql
        backend = f"postgresql://{store.user}@{store.host}:{store.port}/{store.database}"
        pgpass = f"{MLFLOW_SECRETS_DIR}/pgpass"
        secret_files[pgpass] = i.secret(store.password_secret).apply(
            lambda password: f"{store.host}:{store.port}:{store.database}:{store.user}:{password}\n"
        )
        env["PGPASSFILE"] = pgpass
    artifacts = m.artifact_store
    if artifacts.kind == "s3":
        if artifacts.endpoint_url:
            env["MLFLOW_S3_ENDPOINT_URL"] = str(artifacts.endpoint_url)
        if artifacts.access_key_id_secret and artifacts.secret_access_key_secret:
            credentials = f"{MLFLOW_SECRETS_DIR}/aws-credentials"
            secret_files[credentials] = pulumi.Output.all(
                i.secret(artifacts.access_key_id_secret),
                i.secret(artifacts.secret_access_key_secret),
            ).apply(
                lambda keys: (
                    f"[default]\naws_access_key_id = {keys[0]}\naws_secret_access_key = {keys[1]}\n"
                )
            )
            env["AWS_SHARED_CREDENTIALS_FILE"] = credentials
    # MLflow refuses requests whose Host header it does not know (DNS-rebinding guard): its
    # Service names, and on Kubernetes the pod addresses Prometheus scrapes it by.
    allowed = {
        endpoint.host, endpoint.address(), endpoint.host.split(".")[0],
        "localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}",
    }  # fmt: skip
    if i.spec.target == "kubernetes":
        allowed |= {"10.*", "172.*", "192.168.*"}
    local = m.backend_store.kind == "sqlite" or artifacts.kind == "local"
    build = None
    image = i.spec.images.mlflow_server.ref if i.spec.images.mlflow_server else ""
    if i.spec.images.mlflow_server is None:
        build = Build(
            "mlops/mlflow-server",
            "infra/images/mlflow.Dockerfile",
            MLFLOW_BUILD_INPUTS,
            {"BASE_IMAGE": i.spec.images.mlflow.ref},
        )
        image = f"{build.repository}:{build.tag(i.root)}"
    return Workload(
        component=C.MLFLOW,
        name=resource_name(i.spec, C.MLFLOW.value),
        image=image,
        build=build,
        ports=cv.PORTS[C.MLFLOW],
        resources=m.resources,
        readiness=_probe("http", "/health"),
        liveness=_probe("http", "/health"),
        user=APP_USER,
        command=("mlflow", "server"),
        args=(
            "--host",
            i.listen,
            "--port",
            str(port),
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            artifacts.uri,
            "--serve-artifacts",
            "--expose-prometheus",
            "/tmp/mlflow-metrics",
            "--allowed-hosts",
            ",".join(sorted(allowed)),
        ),
        env=env,
        secret_files=secret_files,
        data_path=MLFLOW_DATA if local else None,
        storage_size=m.storage_size if local else None,
        replicas=m.replicas,
        health_command=python_get(port, "/health"),
        publish={"http": port},
    )


def serving(i: Inputs, model: ServedModel, index: int) -> Workload:
    spec = i.spec
    port = i.port(C.SERVING)
    collector = i.endpoints[C.OTEL_COLLECTOR]
    env = {
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
    build = None
    if spec.images.serving is not None:
        image = spec.images.serving.ref
    else:
        build = Build(
            "mlops/serving",
            "service/Dockerfile",
            SERVING_BUILD_INPUTS,
            {"BASE_IMAGE": spec.images.serving_base.ref},
        )
        image = f"{build.repository}:{build.tag(i.root)}"
    return Workload(
        component=C.SERVING,
        name=resource_name(spec, f"serving-{model.name}"),
        image=image,
        build=build,
        ports=cv.PORTS[C.SERVING],
        resources=model.resources,
        readiness=_probe("http", "/readyz"),
        liveness=_probe("http", "/livez"),
        user=APP_USER,
        env=env,
        replicas=model.replicas,
        health_command=python_get(port, "/livez"),
        publish={"http": SERVING_HOST_PORT + index},
        labels={cv.LABEL_MODEL: model.name},
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
    public = urlparse(str(g.url))
    smtp_env, smtp_files = _grafana_smtp(i)
    return Workload(
        component=C.GRAFANA,
        name=resource_name(i.spec, C.GRAFANA.value),
        image=i.spec.images.grafana.ref,
        ports=cv.PORTS[C.GRAFANA],
        resources=g.resources,
        readiness=_probe("http", "/api/health"),
        liveness=_probe("http", "/api/health"),
        user=GRAFANA_USER,
        env={
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
            "GF_PATHS_DATA": "/var/lib/grafana",
            "GF_LOG_MODE": "console",
            "GF_LOG_CONSOLE_FORMAT": "json",
            **smtp_env,
        },
        secret_files={GRAFANA_ADMIN_PASSWORD_FILE: i.grafana_admin_password, **smtp_files},
        data_path="/var/lib/grafana",
        storage_size="1Gi",
        health_command=wget(port, "/api/health"),
        publish={"http": public.port or port},
    )


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
    return workloads
