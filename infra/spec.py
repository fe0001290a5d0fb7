"""The typed spec of one platform stack: every setting, checked once, frozen.

`PlatformSpec` is what every renderer, dashboard and Pulumi component reads.
It is built by `infra.config.load_spec` from an environment profile (`stacks/`)
merged with the stack's Pulumi config, and validated here, before anything
else runs. Field names are snake_case in Python and camelCase in config, as
Pulumi config keys usually are.

Secrets never live in the spec. A field that needs one (a webhook URL, a
PagerDuty key, a password) holds a `SecretRef`: the name of a config key that
the stack sets with `pulumi config set --secret`. The loader checks that the
key is a secret; the Pulumi program reads its value as a secret Output; the
rendered files only point at where the value is mounted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self

import promql_parser
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra import conventions as cv
from infra.units import duration_seconds, quantity
from service import catalog

ENVIRONMENTS = ("dev", "staging", "prod")


def _check_duration(value: str) -> str:
    duration_seconds(value)
    return value


def _check_quantity(value: str) -> str:
    quantity(value)
    return value


_SECRET_REF_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")


def _check_secret_ref(value: str, info: ValidationInfo) -> str:
    """A secret reference must name a config key that the stack set as a secret."""
    if not _SECRET_REF_RE.match(value):
        raise ValueError(
            "must name a config key (letters, digits and _, starting with a letter), "
            "such as slackWebhookUrl"
        )
    context = info.context or {}
    namespace = context.get("namespace", "mlops")
    key = f"{namespace}:{value}"
    present: set[str] = context.get("present_keys", set())
    secret: set[str] = context.get("secret_keys", set())
    if key in present and key not in secret:
        raise ValueError(
            f"config key {key} is set in plain text; store it encrypted with "
            f"`pulumi config set --secret {value} <value>`"
        )
    if key not in present and context.get("require_secrets", False):
        raise ValueError(
            f"config key {key} is not set; set it with `pulumi config set --secret {value} <value>`"
        )
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
Quantity = Annotated[str, AfterValidator(_check_quantity)]
SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            "must be 2 to 40 lowercase letters, digits or -, starting with a letter "
            "and not ending with - (it becomes part of resource names)"
        )
    return value


def _check_label(value: str) -> str:
    if not _LABEL_RE.match(value):
        raise ValueError(
            "must be a Prometheus label name: letters, digits and _, not starting with a digit"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
LabelName = Annotated[str, AfterValidator(_check_label)]
_MATCHER_RE = re.compile(r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$')


def _check_matcher(value: str) -> str:
    if not _MATCHER_RE.match(value):
        raise ValueError(
            'must be an Alertmanager matcher such as severity="critical" or '
            'severity=~"critical|page" (label, operator = != =~ !~, quoted value)'
        )
    return value


Matcher = Annotated[str, AfterValidator(_check_matcher)]

# Field names that would hold a secret in plain text: the spec refuses them and
# points at the *Secret field that names a secret config key instead.
_PLAINTEXT_SECRET_FIELDS = {
    "url": "urlSecret",
    "apiUrl": "urlSecret",
    "routingKey": "routingKeySecret",
    "serviceKey": "routingKeySecret",
    "password": "passwordSecret",
    "authPassword": "authPasswordSecret",
    "adminPassword": "adminPasswordSecret",
    "token": "bearerTokenSecret",
    "bearerToken": "bearerTokenSecret",
    "authToken": "authTokenSecret",
    "secretAccessKey": "secretAccessKeySecret",
}


def _refuse_plaintext_secrets(data: Any, fields: tuple[str, ...]) -> Any:
    if isinstance(data, dict):
        for name in fields:
            if name in data:
                raise ValueError(
                    f"`{name}` would hold a secret in plain text; put the value in a secret "
                    f"config key (`pulumi config set --secret KEY <value>`) and name that key "
                    f"in `{_PLAINTEXT_SECRET_FIELDS[name]}`"
                )
    return data


class Spec(BaseModel):
    """Base of every spec model: frozen, strict about unknown keys, camelCase in config."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )


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

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: tuple[ServedModel, ...]) -> tuple[ServedModel, ...]:
        dupes = sorted(n for n, c in Counter(m.name for m in models).items() if c > 1)
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        return models


class BackendStore(Spec):
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

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("password",))

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

    access_key_id_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the S3 access key id."
    )
    secret_access_key_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the S3 secret access key."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("secretAccessKey",))

    @model_validator(mode="after")
    def _keys_pair(self) -> Self:
        if (self.access_key_id_secret is None) != (self.secret_access_key_secret is None):
            raise ValueError("accessKeyIdSecret and secretAccessKeySecret go together")
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
    name: Name = Field(description="Name of this remote-write destination.")
    url: AnyHttpUrl = Field(description="Remote-write endpoint (no credentials in the URL).")
    basic_auth_username: str | None = Field(default=None, description="Basic-auth user name.")
    password_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the basic-auth password."
    )
    bearer_token_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding a bearer token."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("password", "bearerToken", "token"))

    @model_validator(mode="after")
    def _auth_is_consistent(self) -> Self:
        if self.url.username or self.url.password:
            raise ValueError(
                "url must not carry credentials; use basicAuthUsername and passwordSecret"
            )
        if (self.basic_auth_username is None) != (self.password_secret is None):
            raise ValueError("basicAuthUsername and passwordSecret go together")
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
        default=1, ge=1, le=3, description="Prometheus replicas (each scrapes everything)."
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


class Pushgateway(Spec):
    persistence_interval: Duration = Field(
        default="5m", description="How often pushed metrics are written to the persistence file."
    )
    storage_size: Quantity = Field(
        default="1Gi", description="Volume size of the persistence file."
    )
    resources: Resources = Field(description="Requests and limits of the Pushgateway.")


class _Receiver(Spec):
    name: Name = Field(description="Receiver name that routes refer to.")
    send_resolved: bool = Field(default=True, description="Also notify when an alert resolves.")


class DiscardReceiver(_Receiver):
    kind: Literal["discard"] = Field(
        description="Notifies nobody; alerts stay visible in Alertmanager and Grafana."
    )


class WebhookReceiver(_Receiver):
    kind: Literal["webhook"] = Field(description="Generic webhook (JSON POST).")
    url_secret: SecretRef = Field(description="Secret config key holding the webhook URL.")
    max_alerts: int = Field(default=0, ge=0, description="Most alerts per message; 0 sends all.")

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("url", "token", "bearerToken"))


class SlackReceiver(_Receiver):
    kind: Literal["slack"] = Field(description="Slack incoming webhook.")
    url_secret: SecretRef = Field(description="Secret config key holding the Slack webhook URL.")
    channel: str = Field(
        description="Channel to post in, e.g. #ml-alerts.", pattern=r"^[#@][\w.-]+$"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("url", "apiUrl"))


class EmailReceiver(_Receiver):
    kind: Literal["email"] = Field(description="E-mail through an SMTP relay.")
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = Field(
        min_length=1, description="Recipient addresses."
    )
    from_: str = Field(
        alias="from", description="Sender address.", pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    smarthost: str = Field(description="SMTP relay host:port.", pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$")
    auth_username: str | None = Field(default=None, description="SMTP user name.")
    auth_password_secret: SecretRef | None = Field(
        default=None, description="Secret config key holding the SMTP password."
    )
    require_tls: bool = Field(default=True, description="Refuse to send without STARTTLS.")

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("password", "authPassword"))

    @model_validator(mode="after")
    def _auth_pairs(self) -> Self:
        if (self.auth_username is None) != (self.auth_password_secret is None):
            raise ValueError("authUsername and authPasswordSecret go together")
        return self


class PagerDutyReceiver(_Receiver):
    kind: Literal["pagerduty"] = Field(description="PagerDuty Events API v2.")
    routing_key_secret: SecretRef = Field(
        description="Secret config key holding the PagerDuty integration (routing) key."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("routingKey", "serviceKey"))


RECEIVER_KINDS: dict[str, type[_Receiver]] = {
    "discard": DiscardReceiver,
    "webhook": WebhookReceiver,
    "slack": SlackReceiver,
    "email": EmailReceiver,
    "pagerduty": PagerDutyReceiver,
}
Receiver = Annotated[
    DiscardReceiver | WebhookReceiver | SlackReceiver | EmailReceiver | PagerDutyReceiver,
    Field(discriminator="kind"),
]


class Route(Spec):
    receiver: Name | None = Field(
        default=None, description="Receiver of alerts this route matches (inherited when unset)."
    )
    matchers: tuple[Matcher, ...] = Field(
        default=(), description='Alertmanager matchers, e.g. severity=~"critical|page".'
    )
    group_by: tuple[LabelName, ...] | None = Field(
        default=None, description="Labels alerts are grouped by (inherited when unset)."
    )
    group_wait: Duration | None = Field(
        default=None, description="Wait before the first notification of a group."
    )
    group_interval: Duration | None = Field(
        default=None, description="Wait before notifying about new alerts in a group."
    )
    repeat_interval: Duration | None = Field(
        default=None, description="Wait before repeating a notification."
    )
    continue_: bool = Field(
        default=False, alias="continue", description="Keep matching sibling routes after this one."
    )
    routes: tuple[Route, ...] = Field(default=(), description="Child routes, tried in order.")

    def walk(self, path: str = "route") -> Iterator[tuple[str, Route]]:
        yield path, self
        for i, child in enumerate(self.routes):
            yield from child.walk(f"{path}.routes[{i}]")


class InhibitRule(Spec):
    source_matchers: tuple[Matcher, ...] = Field(
        min_length=1, description="Alerts that mute others."
    )
    target_matchers: tuple[Matcher, ...] = Field(min_length=1, description="Alerts that get muted.")
    equal: tuple[LabelName, ...] = Field(
        default=(), description="Labels whose values must match for the mute to apply."
    )


class Heartbeat(Spec):
    """A dead man's switch: the always-firing Watchdog alert, repeated to an outside service
    (healthchecks.io, Dead Man's Snitch, a PagerDuty heartbeat...) that raises the alarm when
    the repeats stop, which is the one failure the platform cannot report itself."""

    receiver: Name = Field(description="The declared receiver the Watchdog is sent to.")
    interval: Duration = Field(
        default="1m",
        description="How often the Watchdog is repeated (at least 4s); the outside service's "
        "period should be a few of these.",
    )

    @field_validator("interval")
    @classmethod
    def _long_enough(cls, interval: str) -> str:
        if duration_seconds(interval) < 4:
            raise ValueError(
                f"{interval!r} is shorter than 4s: Alertmanager would repeat it on every tick"
            )
        return interval


class Alertmanager(Spec):
    replicas: int = Field(
        default=1, ge=1, le=5, description="Replicas; more than one forms an HA cluster."
    )
    storage_size: Quantity = Field(
        default="1Gi", description="Volume for silences and the notification log."
    )
    resolve_timeout: Duration = Field(
        default="5m", description="When an alert without end time counts as resolved."
    )
    resources: Resources = Field(description="Requests and limits of one replica.")
    receivers: tuple[Receiver, ...] = Field(min_length=1, description="Where notifications go.")
    route: Route = Field(
        description="The routing tree; its root must name a receiver and have no matchers."
    )
    inhibit_rules: tuple[InhibitRule, ...] = Field(
        default=(), description="Alerts that mute other alerts."
    )
    heartbeat: Heartbeat | None = Field(
        default=None,
        description="Where the always-firing Watchdog alert goes, so that an outside service "
        "notices when alerting itself is down; unset, it goes nowhere.",
    )

    @model_validator(mode="after")
    def _routing_is_consistent(self) -> Self:
        names = [r.name for r in self.receivers]
        dupes = sorted(n for n, c in Counter(names).items() if c > 1)
        if dupes:
            raise ValueError(f"receiver names must be unique; repeated: {', '.join(dupes)}")
        if cv.WATCHDOG_DISCARD_RECEIVER in names:
            raise ValueError(
                f"receivers: {cv.WATCHDOG_DISCARD_RECEIVER!r} is reserved for the Watchdog; "
                "use another name"
            )
        if self.heartbeat is not None and self.heartbeat.receiver not in names:
            raise ValueError(
                f"heartbeat.receiver: {self.heartbeat.receiver!r} is not a declared receiver; "
                f"declared: {', '.join(names)}"
            )
        if self.route.receiver is None:
            raise ValueError("route.receiver: the root route must name a receiver")
        if self.route.matchers:
            raise ValueError(
                "route.matchers: the root route matches everything and takes no matchers"
            )
        for path, route in self.route.walk():
            if route.receiver is not None and route.receiver not in names:
                raise ValueError(
                    f"{path}.receiver: {route.receiver!r} is not a declared receiver; "
                    f"declared: {', '.join(names)}"
                )
        return self


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

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return _refuse_plaintext_secrets(data, ("adminPassword", "password", "authToken", "token"))

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


class EventsSLI(Spec):
    error_query: str = Field(
        description="PromQL rate of bad events; {{.window}} stands for the window."
    )
    total_query: str = Field(
        description="PromQL rate of all events; {{.window}} stands for the window."
    )

    @field_validator("error_query", "total_query")
    @classmethod
    def _valid_promql(cls, query: str) -> str:
        if cv.SLO_WINDOW_PLACEHOLDER not in query:
            raise ValueError(f"must use {cv.SLO_WINDOW_PLACEHOLDER} as the range of its rates")
        try:
            promql_parser.parse(query.replace(cv.SLO_WINDOW_PLACEHOLDER, "5m"))
        except ValueError as err:
            raise ValueError(f"is not valid PromQL: {err}") from None
        return query


_HISTOGRAMS = {m.name: m for m in catalog.CATALOG if m.kind is catalog.Kind.HISTOGRAM}


class LatencySLI(Spec):
    metric: str = Field(
        default=catalog.REQUEST_DURATION.name,
        description="Histogram (without _bucket) from the metric catalog.",
    )
    threshold_seconds: float = Field(
        gt=0,
        description="Requests slower than this are bad; must be a bucket bound of the histogram.",
    )
    selector: str = Field(
        default=f'job="{cv.JOB[cv.Component.SERVING]}"',
        description='Label matchers inside {}, e.g. job="serving",endpoint="/predict".',
    )

    @model_validator(mode="after")
    def _threshold_is_a_bucket(self) -> Self:
        histogram = _HISTOGRAMS.get(self.metric)
        if histogram is None:
            raise ValueError(
                f"metric {self.metric!r} is not a catalog histogram; known: {', '.join(sorted(_HISTOGRAMS))}"
            )
        if self.threshold_seconds not in histogram.buckets:
            raise ValueError(
                f"thresholdSeconds {self.threshold_seconds} is not a bucket bound of {self.metric}, "
                f"so the SLI could not be computed exactly; use one of "
                f"{', '.join(str(b) for b in histogram.buckets)}"
            )
        try:
            promql_parser.parse(f"{self.metric}_count{{{self.selector}}}")
        except ValueError as err:
            raise ValueError(f"selector is not a valid label-matcher list: {err}") from None
        return self


class SLI(Spec):
    events: EventsSLI | None = Field(
        default=None, description="SLI as a ratio of bad to all events."
    )
    latency: LatencySLI | None = Field(
        default=None, description="SLI as requests slower than a threshold."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.events is None) == (self.latency is None):
            raise ValueError("give exactly one of events or latency")
        return self


class SLO(Spec):
    name: Name = Field(description="SLO name, unique in the stack, e.g. serving-availability.")
    service: Name = Field(
        default="serving", description="Service the SLO is about (sloth_service)."
    )
    description: str = Field(description="What the SLO promises, in one sentence.", min_length=1)
    objective: float = Field(
        gt=0, lt=100, description="Target percentage of good events over the period, e.g. 99.9."
    )
    period: Literal["30d", "28d"] = Field(
        default="30d",
        description="SLO period; its burn-rate alert windows come from infra/slo_windows.",
    )
    sli: SLI = Field(description="How good and bad events are counted.")
    labels: dict[LabelName, str] = Field(
        default_factory=dict, description="Extra labels on the SLO's rules and alerts."
    )

    @field_validator("objective")
    @classmethod
    def _representable(cls, objective: float) -> float:
        if len(str(objective).replace(".", "").lstrip("0")) > 8:
            raise ValueError("use at most 8 significant digits, e.g. 99.95")
        return objective

    @property
    def error_budget(self) -> Decimal:
        """The allowed bad-event ratio as an exact decimal: 99.9 -> 0.001."""
        return (Decimal(100) - Decimal(str(self.objective))) / Decimal(100)

    @property
    def alert_names(self) -> tuple[str, str]:
        return cv.slo_alert_names(self.name)


class AlertThresholds(Spec):
    serving_error_ratio: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="ServingHighErrorRatio fires above this ratio of 5xx answers.",
    )
    serving_latency_p95_seconds: float = Field(
        default=1.0, gt=0, description="ServingHighLatencyP95 fires above this p95 latency."
    )
    serving_window: Duration = Field(
        default="5m",
        description="Range the serving error ratio and p95 latency are computed over; longer "
        "suits low-traffic models, at least 4 scrape intervals.",
    )
    confidence_window: Duration = Field(
        default="30m", description="Range the mean prediction confidence is computed over."
    )
    min_prediction_confidence: float = Field(
        default=0.6,
        gt=0,
        lt=1,
        description="ServingLowPredictionConfidence fires below this mean confidence.",
    )
    min_accuracy: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="ServingLowAccuracy fires when labelled accuracy over accuracyWindow is below.",
    )
    accuracy_window: Duration = Field(
        default="1h", description="Range the accuracy from ground-truth feedback is judged over."
    )
    min_labelled_predictions: int = Field(
        default=50,
        ge=1,
        description="Labelled predictions the window must hold before accuracy may alert: "
        "a few labels cannot page anyone.",
    )
    drift_psi: float = Field(
        default=0.2,
        gt=0,
        description="ServingFeatureDrift fires above this PSI (0.1 moderate, 0.2 significant).",
    )
    model_max_age: Duration = Field(
        default="7d",
        description="TrainingModelStale fires when the last successful training is older.",
    )
    pushgateway_job_max_age: Duration = Field(
        default="2d", description="PushgatewayJobStale fires when a job has not pushed for longer."
    )


class AlertOverride(Spec):
    disabled: bool = Field(default=False, description="Leave the alert out of the rules.")
    for_: Duration | None = Field(
        default=None, alias="for", description="Replace the alert's `for` duration."
    )
    severity: cv.Severity | None = Field(default=None, description="Replace the alert's severity.")


class Docker(Spec):
    bind_address: str = Field(
        default="127.0.0.1",
        description="Host address published ports bind to; 127.0.0.1 keeps the platform off the network.",
        pattern=r"^(\d{1,3}\.){3}\d{1,3}$",
    )


class Kubernetes(Spec):
    namespace: Name = Field(description="Namespace the platform is deployed in.")
    storage_class: str | None = Field(
        default=None, description="StorageClass of every volume; cluster default when unset."
    )
    render_yaml_to: str | None = Field(
        default=None,
        description=(
            "Write every object as YAML to this folder (relative to the project) instead of"
            " applying it to a cluster: the provider's renderYamlToDirectory, for a GitOps"
            " repository or a review. Secrets are left out, because the provider writes their"
            " values in plain text: create them with your secret manager (the stack exports"
            " their names and keys as secretsToProvide)."
        ),
    )

    @field_validator("render_yaml_to")
    @classmethod
    def _relative_folder(cls, value: str | None) -> str | None:
        parts = PurePosixPath(value).parts if value else ()
        if value is not None and (
            not re.fullmatch(r"[A-Za-z0-9_./-]+", value) or value.startswith("/") or ".." in parts
        ):
            raise ValueError(
                "must be a folder inside the project (letters, digits, _ . - /, no leading / "
                "or ..), e.g. rendered/prod"
            )
        return value


class PlatformSpec(Spec):
    """The whole platform of one stack."""

    environment: Literal["dev", "staging", "prod"] = Field(
        description="Environment profile the stack starts from."
    )
    target: Literal["docker", "kubernetes"] = Field(description="Where the platform runs.")
    name: Name = Field(description="Prefix of every resource name, e.g. mlops-dev.")
    images: Images = Field(description="Pinned images of every component.")
    serving: Serving = Field(description="The serving API and the models it serves.")
    mlflow: MLflow = Field(description="MLflow tracking server and model registry.")
    prometheus: Prometheus = Field(description="Prometheus server.")
    pushgateway: Pushgateway = Field(description="Pushgateway for batch jobs.")
    alertmanager: Alertmanager = Field(description="Alertmanager and the routing of notifications.")
    otel_collector: OtelCollector = Field(
        description="OpenTelemetry Collector, the telemetry ingress."
    )
    loki: Loki = Field(description="Loki, the log store.")
    tempo: Tempo = Field(description="Tempo, the trace store.")
    grafana: Grafana = Field(description="Grafana, and how the provider reaches it.")
    slos: tuple[SLO, ...] = Field(
        description="Service level objectives, rendered to Sloth-style rules."
    )
    alerts: AlertThresholds = Field(description="Thresholds of the platform alerts.")
    alert_overrides: dict[str, AlertOverride] = Field(
        default_factory=dict,
        description="Per-alert changes, keyed by alert name: disable, for, severity.",
    )
    runbook_url_pattern: str = Field(
        description="URL of an alert's runbook; {alert} is replaced by the alert name.",
        pattern=r"^https?://\S+$",
    )
    docker: Docker = Field(description="Settings of the docker target.")
    kubernetes: Kubernetes = Field(description="Settings of the kubernetes target.")

    @field_validator("runbook_url_pattern")
    @classmethod
    def _has_placeholder(cls, pattern: str) -> str:
        if "{alert}" not in pattern:
            raise ValueError("must contain {alert}, which is replaced by the alert name")
        return pattern

    @field_validator("slos")
    @classmethod
    def _unique_slos(cls, slos: tuple[SLO, ...]) -> tuple[SLO, ...]:
        dupes = sorted(n for n, c in Counter(s.name for s in slos).items() if c > 1)
        if dupes:
            raise ValueError(f"SLO names must be unique; repeated: {', '.join(dupes)}")
        return slos

    @model_validator(mode="after")
    def _overrides_name_known_alerts(self) -> Self:
        slo_alerts = {name for slo in self.slos for name in slo.alert_names}
        platform_alerts = {a.value for a in cv.Alert} | {a.value for a in cv.LogAlert}
        for alert, override in self.alert_overrides.items():
            if alert not in platform_alerts | slo_alerts:
                raise ValueError(
                    f"alertOverrides.{alert}: no such alert; known: "
                    f"{', '.join(sorted(platform_alerts | slo_alerts))}"
                )
            allowed = cv.SLO_SEVERITIES if alert in slo_alerts else cv.PLATFORM_SEVERITIES
            if override.severity is not None and override.severity not in allowed:
                raise ValueError(
                    f"alertOverrides.{alert}.severity: {override.severity.value!r} is not allowed here; "
                    f"use one of {', '.join(s.value for s in allowed)}"
                )
        watchdog = self.alert_override(cv.Alert.WATCHDOG)
        if self.alertmanager.heartbeat is not None and watchdog.disabled:
            raise ValueError(
                f"alertOverrides.{cv.Alert.WATCHDOG.value}.disabled: the heartbeat receiver "
                f"{self.alertmanager.heartbeat.receiver!r} expects it; unset "
                "alertmanager.heartbeat too, or keep the Watchdog"
            )
        if watchdog.for_ is not None or watchdog.severity is not None:
            raise ValueError(
                f"alertOverrides.{cv.Alert.WATCHDOG.value}: only `disabled` applies to the "
                "Watchdog (it fires always, and is routed by name)"
            )
        return self

    @model_validator(mode="after")
    def _cluster_images_are_prebuilt(self) -> Self:
        if self.target == "kubernetes":
            missing = [
                f"images.{key}"
                for key, image in (
                    ("serving", self.images.serving),
                    ("mlflowServer", self.images.mlflow_server),
                )
                if image is None
            ]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)}: the kubernetes target pulls these from a registry; "
                    "name them with repository and tag, then build and push them "
                    "(`make images STACK=<stack> PUSH=1`)"
                )
        return self

    @model_validator(mode="after")
    def _windows_hold_samples(self) -> Self:
        scrape = duration_seconds(self.prometheus.scrape_interval)
        for key, window in (
            ("alerts.servingWindow", self.alerts.serving_window),
            ("alerts.confidenceWindow", self.alerts.confidence_window),
        ):
            if duration_seconds(window) < 4 * scrape:
                raise ValueError(
                    f"{key} {window} holds fewer than 4 scrapes of prometheus.scrapeInterval "
                    f"{self.prometheus.scrape_interval}: rate() needs several samples"
                )
        return self

    @model_validator(mode="after")
    def _rendering_needs_no_cluster(self) -> Self:
        if self.kubernetes.render_yaml_to is None:
            return self
        if self.target != "kubernetes":
            raise ValueError("kubernetes.renderYamlTo: only the kubernetes target renders YAML")
        if self.grafana.deployed and self.grafana.managed:
            raise ValueError(
                "kubernetes.renderYamlTo: the Grafana content needs the Grafana this stack "
                "runs, which rendering does not start; set grafana.content: external"
            )
        return self

    @model_validator(mode="after")
    def _docker_is_single_node(self) -> Self:
        if self.target == "docker" and self.grafana.cloud is False and self.prometheus.replicas > 1:
            raise ValueError("prometheus.replicas > 1 needs the kubernetes target")
        return self

    def runbook_url(self, alert: str) -> str:
        return self.runbook_url_pattern.replace("{alert}", alert)

    def alert_override(self, alert: str) -> AlertOverride:
        return self.alert_overrides.get(alert, AlertOverride())
