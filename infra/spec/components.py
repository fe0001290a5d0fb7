"""The settings of each deployed component: images, resources, storage, replicas.

What a component needs to run is checked here, per component (a postgresql
store needs a host, replicas need shared state), so that a renderer can take
the settings as they are.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal, Self

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from infra.spec.base import (
    Duration,
    LabelName,
    Name,
    Quantity,
    Spec,
    refuse_half_pair,
    refuse_repeats,
)
from infra.spec.secret_refs import SecretRef
from infra.units import duration_seconds, quantity


class Image(Spec):
    repository: str = Field(
        description="Image repository, e.g. prom/prometheus.",
        pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
    )
    tag: str = Field(description="Pinned image tag; `latest` and empty tags are refused.")
    digest: str | None = Field(
        default=None,
        description="Content digest (sha256:...) pinning the exact image, where known.",
        pattern=r"^sha256:[0-9a-f]{64}$",
    )

    @field_validator("tag")
    @classmethod
    def _not_latest(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", value):
            raise ValueError("must be a pinned version tag such as v3.5.0 (letters, digits, _ . -)")
        if value.lower() == "latest":
            raise ValueError("`latest` is not a pinned tag: name a version such as v3.5.0")
        return value

    @property
    def ref(self) -> str:
        """The reference a container runtime pulls: repository:tag[@digest]."""
        base = f"{self.repository}:{self.tag}"
        return f"{base}@{self.digest}" if self.digest else base


class Images(Spec):
    serving_base: Image = Field(description="Base image the serving API image is built on.")
    mlflow: Image = Field(description="MLflow tracking server and model registry.")
    prometheus: Image = Field(description="Prometheus server.")
    pushgateway: Image = Field(description="Prometheus Pushgateway.")
    alertmanager: Image = Field(description="Prometheus Alertmanager.")
    otel_collector: Image = Field(description="OpenTelemetry Collector (contrib distribution).")
    loki: Image = Field(description="Grafana Loki.")
    tempo: Image = Field(description="Grafana Tempo.")
    grafana: Image = Field(description="Grafana (used when the stack runs its own Grafana).")
    node_exporter: Image = Field(description="Prometheus node-exporter (host metrics).")
    cadvisor: Image = Field(description="cAdvisor (container metrics on docker).")
    kube_state_metrics: Image = Field(description="kube-state-metrics (Kubernetes objects).")
    dcgm_exporter: Image = Field(description="NVIDIA DCGM exporter (GPU metrics).")
    serving: Image | None = Field(
        default=None,
        description="Serving API image built from service/Dockerfile and pushed to a registry "
        "(required on kubernetes; the docker target builds it locally when unset).",
    )
    mlflow_server: Image | None = Field(
        default=None,
        description="MLflow server image built from infra/images/mlflow.Dockerfile (the mlflow "
        "image plus its metrics exporter and database drivers; required on kubernetes, built "
        "locally by the docker target when unset).",
    )


class Resources(Spec):
    cpu_request: Quantity = Field(description="CPU requested, e.g. 250m.")
    memory_request: Quantity = Field(description="Memory requested, e.g. 256Mi.")
    cpu_limit: Quantity | None = Field(
        default=None,
        description="CPU limit; unset leaves CPU unthrottled (often the better choice).",
    )
    memory_limit: Quantity = Field(description="Memory limit, e.g. 512Mi.")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Self:
        if quantity(self.memory_request) > quantity(self.memory_limit):
            raise ValueError(
                f"memoryRequest {self.memory_request} exceeds memoryLimit {self.memory_limit}"
            )
        if self.cpu_limit is not None and quantity(self.cpu_request) > quantity(self.cpu_limit):
            raise ValueError(f"cpuRequest {self.cpu_request} exceeds cpuLimit {self.cpu_limit}")
        return self


class ServedModel(Spec):
    name: Name = Field(
        description="Registered model name in MLflow; also names the serving deployment "
        "(lowercase letters, digits and -)."
    )
    alias: str = Field(
        default="champion",
        description="Registry alias the service serves and follows (models:/<name>@<alias>).",
        pattern=r"^[a-z][a-z0-9_-]{0,62}$",
    )
    replicas: int = Field(default=1, ge=1, le=50, description="Serving replicas.")
    resources: Resources = Field(description="Requests and limits of one serving replica.")
    gpus: int = Field(
        default=0,
        ge=0,
        le=16,
        description="NVIDIA GPUs (nvidia.com/gpu) one replica requests; any model with GPUs "
        "brings the DCGM exporter and the GPU alerts and panels.",
    )
    max_batch_size: int = Field(
        default=256, ge=1, le=100_000, description="Most rows one prediction request may carry."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        le=64 * 1_048_576,
        description="Largest request body accepted, in bytes; larger bodies get 413.",
    )
    alias_poll_interval: Duration = Field(
        default="30s", description="How often the service checks whether the alias moved."
    )
    accuracy_slo: bool = Field(
        default=True,
        description="Ship the model's accuracy SLO (<name>-accuracy: labelled predictions "
        "that were right, objective alerts.minAccuracy x 100); false leaves it out.",
    )


class Serving(Spec):
    models: tuple[ServedModel, ...] = Field(
        min_length=1, description="Models served, one serving deployment each."
    )
    trace_sample_ratio: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Fraction of new traces sampled; a caller's sampled traceparent is always followed.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the serving API."
    )
    accuracy_slos: bool = Field(
        default=True,
        description="Ship an accuracy SLO per served model (each model may still turn its own "
        "off with accuracySlo); false leaves them all out.",
    )

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: tuple[ServedModel, ...]) -> tuple[ServedModel, ...]:
        refuse_repeats("model", (m.name for m in models))
        return models


class BackendStore(Spec):
    plaintext_secrets = ("password",)

    kind: Literal["sqlite", "postgresql"] = Field(
        description="sqlite (one replica, on a volume) or postgresql."
    )
    host: str | None = Field(default=None, description="PostgreSQL host (postgresql only).")
    port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    database: str = Field(default="mlflow", description="PostgreSQL database name.")
    user: str | None = Field(default=None, description="PostgreSQL user (postgresql only).")
    password_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the PostgreSQL password."
    )

    @model_validator(mode="after")
    def _postgres_needs_connection(self) -> Self:
        if self.kind == "postgresql":
            missing = [
                f
                for f, v in (
                    ("host", self.host),
                    ("user", self.user),
                    ("passwordSecret", self.password_secret),
                )
                if v is None
            ]
            if missing:
                raise ValueError(f"a postgresql backend store needs {', '.join(missing)}")
        return self


class S3Credentials(Spec):
    """S3 keys, by reference to secret config keys; unset means ambient credentials (IAM roles)."""

    plaintext_secrets = ("secretAccessKey",)
    access_key_id_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the S3 access key id."
    )
    secret_access_key_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the S3 secret access key."
    )

    @model_validator(mode="after")
    def _keys_pair(self) -> Self:
        refuse_half_pair(
            ("accessKeyIdSecret", self.access_key_id_secret),
            ("secretAccessKeySecret", self.secret_access_key_secret),
        )
        return self


class ArtifactStore(S3Credentials):
    kind: Literal["local", "s3"] = Field(
        description="local (a volume) or s3 (any S3-compatible store)."
    )
    uri: str = Field(description="Artifact root: a path for local, s3://bucket/prefix for s3.")
    endpoint_url: AnyHttpUrl | None = Field(
        default=None, description="S3 endpoint for S3-compatible stores (MinIO, Ceph)."
    )

    @model_validator(mode="after")
    def _uri_matches_kind(self) -> Self:
        if self.kind == "s3" and not re.match(
            r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", self.uri
        ):
            raise ValueError("an s3 artifact store needs uri s3://<bucket>[/prefix]")
        if self.kind == "local" and not self.uri.startswith("/"):
            raise ValueError("a local artifact store needs an absolute path as uri")
        return self


class MLflow(Spec):
    backend_store: BackendStore = Field(description="Where runs and the model registry are stored.")
    artifact_store: ArtifactStore = Field(description="Where model files and artifacts are stored.")
    replicas: int = Field(default=1, ge=1, le=10, description="Tracking server replicas.")
    storage_size: Quantity = Field(
        default="5Gi", description="Volume size for a sqlite store and local artifacts."
    )
    resources: Resources = Field(description="Requests and limits of the tracking server.")

    @model_validator(mode="after")
    def _shared_state_for_replicas(self) -> Self:
        if self.replicas > 1 and (
            self.backend_store.kind == "sqlite" or self.artifact_store.kind == "local"
        ):
            raise ValueError(
                "replicas > 1 needs a postgresql backend store and an s3 artifact store: "
                "sqlite files and local artifacts cannot be shared between replicas"
            )
        return self


class RemoteWrite(Spec):
    plaintext_secrets = ("password", "bearerToken", "token")

    name: Name = Field(description="Name of this remote-write destination.")
    url: AnyHttpUrl = Field(description="Remote-write endpoint (no credentials in the URL).")
    basic_auth_username: str | None = Field(default=None, description="Basic-auth user name.")
    password_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the basic-auth password."
    )
    bearer_token_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding a bearer token."
    )
    drop_replica_label: bool = Field(
        default=False,
        description="Send a Prometheus pair's series without the replica label, for stores "
        "that deduplicate identical series by timestamp (VictoriaMetrics with "
        "-dedup.minScrapeInterval); Thanos and Mimir deduplicate by the label and need it.",
    )

    @model_validator(mode="after")
    def _auth_is_consistent(self) -> Self:
        if self.url.username or self.url.password:
            raise ValueError(
                "url must not carry credentials; use basicAuthUsername and passwordSecret"
            )
        refuse_half_pair(
            ("basicAuthUsername", self.basic_auth_username),
            ("passwordSecret", self.password_secret),
        )
        if self.password_secret and self.bearer_token_secret:
            raise ValueError("use either basic auth or a bearer token, not both")
        return self


class Prometheus(Spec):
    scrape_interval: Duration = Field(default="15s", description="How often targets are scraped.")
    scrape_timeout: Duration = Field(
        default="10s", description="Scrape timeout; at most scrapeInterval."
    )
    evaluation_interval: Duration = Field(
        default="15s", description="How often rules are evaluated."
    )
    retention_time: Duration = Field(description="How long samples are kept, e.g. 15d.")
    retention_size: str | None = Field(
        default=None,
        description="Disk cap for the TSDB, e.g. 40GB (Prometheus units B, KB, MB, GB, TB).",
        pattern=r"^\d+(B|KB|MB|GB|TB|PB)$",
    )
    storage_size: Quantity = Field(description="Volume size of the TSDB.")
    replicas: int = Field(
        default=1,
        ge=1,
        le=3,
        description="Prometheus replicas: each scrapes everything, evaluates every rule and "
        "sends to every Alertmanager, which deduplicates their alerts.",
    )
    replica_label: LabelName = Field(
        default="replica",
        description="External label naming the replica (its pod) when replicas > 1: a remote "
        "store deduplicates the pair's series by it; dropped from alerts, so both replicas' "
        "alerts are one to Alertmanager.",
    )
    for_grace_period: Duration = Field(
        default="1m",
        description="After a restart, an alert pending in its `for` resumes its count "
        "(from ALERTS_FOR_STATE) when `for` is at least this long, and fires no sooner than "
        "this after the restart; shorter `for`s start over. Prometheus' default, 10m, starts "
        "every alert with a `for` under 10 minutes over.",
    )
    resources: Resources = Field(description="Requests and limits of Prometheus.")
    external_labels: dict[LabelName, str] = Field(
        default_factory=dict,
        description="Labels added to every series and alert leaving Prometheus.",
    )
    remote_write: tuple[RemoteWrite, ...] = Field(
        default=(), description="Remote-write destinations (long-term storage)."
    )

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> Self:
        if duration_seconds(self.scrape_timeout) > duration_seconds(self.scrape_interval):
            raise ValueError(
                f"scrapeTimeout {self.scrape_timeout} is longer than scrapeInterval {self.scrape_interval}"
            )
        return self

    @model_validator(mode="after")
    def _replica_label_free(self) -> Self:
        if self.replicas > 1 and self.replica_label in self.external_labels:
            raise ValueError(
                f"externalLabels: {self.replica_label!r} is the replicaLabel, which each replica "
                "sets to its own pod name; choose another replicaLabel or label"
            )
        return self


class Pushgateway(Spec):
    persistence_interval: Duration = Field(
        default="5m", description="How often pushed metrics are written to the persistence file."
    )
    storage_size: Quantity = Field(
        default="1Gi", description="Volume size of the persistence file."
    )
    resources: Resources = Field(description="Requests and limits of the Pushgateway.")


class OtelCollector(Spec):
    replicas: int = Field(default=1, ge=1, le=10, description="Collector replicas (stateless).")
    resources: Resources = Field(description="Requests and limits of one collector.")
    memory_limit_mib: int = Field(
        default=400,
        ge=32,
        description="memory_limiter hard limit, in MiB; keep below the container limit.",
    )
    batch_timeout: Duration = Field(
        default="5s", description="Longest a batch waits before it is sent."
    )
    batch_size: int = Field(default=8192, ge=1, description="Spans or log records per batch.")

    @model_validator(mode="after")
    def _limiter_below_container(self) -> Self:
        if Decimal(self.memory_limit_mib) * 2**20 >= quantity(self.resources.memory_limit):
            raise ValueError(
                f"memoryLimitMib {self.memory_limit_mib} must stay below resources.memoryLimit "
                f"{self.resources.memory_limit}, or the container is killed before the limiter acts"
            )
        return self


class ObjectStorage(S3Credentials):
    kind: Literal["filesystem", "s3"] = Field(description="filesystem (a volume) or s3.")
    size: Quantity = Field(
        default="10Gi", description="Volume size (filesystem, and the WAL for s3)."
    )
    bucket: str | None = Field(default=None, description="Bucket name (s3 only).")
    endpoint: str | None = Field(default=None, description="S3 endpoint host[:port] (s3 only).")

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> Self:
        if self.kind == "s3" and not (self.bucket and self.endpoint):
            raise ValueError("s3 storage needs bucket and endpoint")
        return self


class Loki(Spec):
    retention: Duration = Field(
        description="How long logs are kept (the compactor deletes older ones); at least 24h."
    )
    storage: ObjectStorage = Field(description="Where chunks and indexes are stored.")
    resources: Resources = Field(description="Requests and limits of Loki.")

    @field_validator("retention")
    @classmethod
    def _at_least_a_day(cls, value: str) -> str:
        if duration_seconds(value) < 86400:
            raise ValueError("Loki's retention works in whole days: use 24h or more")
        return value


class Tempo(Spec):
    retention: Duration = Field(description="How long trace blocks are kept.")
    storage: ObjectStorage = Field(description="Where trace blocks are stored.")
    resources: Resources = Field(description="Requests and limits of Tempo.")
    metrics_generator: bool = Field(
        default=True, description="Derive span metrics and a service graph, written to Prometheus."
    )


class Grafana(Spec):
    plaintext_secrets = ("adminPassword", "password", "authToken", "token")

    url: AnyHttpUrl = Field(description="URL of Grafana as users and the provider reach it.")
    cloud: bool = Field(
        default=False, description="Grafana Cloud: nothing is deployed; SLOs use the Cloud SLO app."
    )
    deploy: bool = Field(
        default=True, description="Run Grafana in this stack (ignored for Grafana Cloud)."
    )
    admin_user: str = Field(
        default="admin", description="Admin user of a self-run Grafana.", min_length=1
    )
    admin_password_secret: SecretRef | None = Field(
        default=None, description="Secret config key with the admin password; generated when unset."
    )
    auth_token_secret: SecretRef | None = Field(
        default=None,
        description="Secret config key with a service-account token (required for Grafana Cloud).",
    )
    resources: Resources = Field(description="Requests and limits of a self-run Grafana.")
    content: Literal["managed", "external"] = Field(
        default="managed",
        description=(
            "Who declares Grafana's content (datasources, folders, dashboards, alert rules,"
            " contact points, SLOs). managed: this stack, through the Grafana provider, which"
            " needs Grafana reachable at url during `pulumi up`. external: this stack declares"
            " the platform without it, for a new environment's first `up` (Grafana is not up"
            " yet) or when another stack owns the content and reads this one's outputs."
        ),
    )

    @model_validator(mode="after")
    def _cloud_needs_token(self) -> Self:
        if self.cloud and self.auth_token_secret is None:
            raise ValueError("Grafana Cloud needs authTokenSecret (a service-account token)")
        if self.cloud and self.url.scheme != "https":
            raise ValueError("Grafana Cloud is reached over https")
        return self

    @property
    def deployed(self) -> bool:
        return self.deploy and not self.cloud

    @property
    def managed(self) -> bool:
        """This stack declares Grafana's content through the Grafana provider."""
        return self.content == "managed"
