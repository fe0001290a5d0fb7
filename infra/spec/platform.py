"""The whole platform of one stack, and the checks that need more than one part of it.

Each part checks itself in its own module; what is left here is what only the
whole can judge: overrides that name real alerts, windows that hold enough
scrapes, targets that can run what the settings ask for.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import PurePosixPath
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from infra import conventions as cv
from infra.spec.alerting import Alertmanager, AlertOverride, AlertThresholds
from infra.spec.base import Name, Spec, refuse_repeats
from infra.spec.components import (
    Grafana,
    Images,
    Loki,
    MLflow,
    OtelCollector,
    Prometheus,
    Pushgateway,
    Serving,
    Tempo,
)
from infra.spec.rollback import ACCURACY_ALERTS, Rollback
from infra.spec.saturation import Saturation
from infra.spec.slos import SLO, accuracy_slo, accuracy_slo_name
from infra.units import duration_seconds

ENVIRONMENTS = ("dev", "staging", "prod")


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
    saturation: Saturation = Field(
        description="Collectors of resource, container, node and GPU figures."
    )
    declared_slos: tuple[SLO, ...] = Field(
        alias="slos",
        description="Service level objectives, rendered to Sloth-style rules; each served "
        "model's accuracy SLO (<model>-accuracy) is added to these unless turned off "
        "(serving.accuracySlos, serving.models[].accuracySlo).",
    )
    rollback: Rollback = Field(
        default_factory=Rollback,
        description="The guarded automatic rollback on accuracy alerts; off unless enabled.",
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

    @field_validator("declared_slos")
    @classmethod
    def _unique_slos(cls, slos: tuple[SLO, ...]) -> tuple[SLO, ...]:
        refuse_repeats("SLO", (s.name for s in slos))
        return slos

    @model_validator(mode="after")
    def _accuracy_slos_fit(self) -> Self:
        declared = {slo.name: i for i, slo in enumerate(self.declared_slos)}
        for i, model in enumerate(self.serving.models):
            if not (self.serving.accuracy_slos and model.accuracy_slo):
                continue
            name, where = accuracy_slo_name(model.name), f"serving.models[{i}]"
            off = f"or set {where}.accuracySlo: false"
            if name in declared:
                raise ValueError(
                    f"slos[{declared[name]}].name: {name} is the accuracy SLO the platform "
                    f"makes for served model {model.name}; rename yours, {off}"
                )
            if len(name) > 40:
                raise ValueError(
                    f"{where}.name: its accuracy SLO's name {name} is longer than 40 "
                    f"characters; shorten the model name, {off}"
                )
        if self.serving.accuracy_slos and any(m.accuracy_slo for m in self.serving.models):
            try:
                self.accuracy_slos  # noqa: B018 (built here so a bad floor is refused at once)
            except ValueError as err:
                raise ValueError(
                    f"alerts.minAccuracy: {err}; raise it, or set serving.accuracySlos: false"
                ) from None
        return self

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
    def _rollback_follows_known_alerts(self) -> Self:
        allowed = set(ACCURACY_ALERTS) | {slo.alert_names[0] for slo in self.slos}
        refuse_repeats("rollback alert", self.rollback.alerts)
        for alert in self.rollback.alerts:
            if alert not in allowed:
                raise ValueError(
                    f"rollback.alerts: {alert!r} cannot cause a rollback; allowed: "
                    f"{', '.join(sorted(allowed))}"
                )
            if self.rollback.enabled and self.alert_override(alert).disabled:
                raise ValueError(
                    f"rollback.alerts: {alert!r} is disabled by alertOverrides.{alert}; "
                    "it would never cause a rollback"
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

    @cached_property
    def accuracy_slos(self) -> tuple[SLO, ...]:
        """The accuracy SLO of each served model that has one (`infra.spec.slos.accuracy_slo`)."""
        if not self.serving.accuracy_slos:
            return ()
        t = self.alerts
        return tuple(
            accuracy_slo(m.name, t.min_accuracy, t.min_labelled_predictions, t.accuracy_window)
            for m in self.serving.models
            if m.accuracy_slo
        )

    @property
    def slos(self) -> tuple[SLO, ...]:
        """Every SLO of the stack: those declared under `slos`, then the accuracy SLOs. The
        renderers, alerts and Grafana resources read this one list alike."""
        return self.declared_slos + self.accuracy_slos

    @property
    def gpus(self) -> bool:
        """Whether any served model requests GPUs (the DCGM exporter and GPU alerts follow)."""
        return any(m.gpus > 0 for m in self.serving.models)

    @property
    def collectors(self) -> frozenset[cv.Component]:
        """The saturation collectors this stack runs: each on the targets it belongs to,
        when enabled; the DCGM exporter when a model requests GPUs."""
        s, c = self.saturation, cv.Component
        wanted = {
            c.NODE_EXPORTER: s.node_exporter.enabled,
            c.CADVISOR: s.cadvisor.enabled and self.target == "docker",
            c.KUBE_STATE_METRICS: s.kube_state_metrics.enabled and self.target == "kubernetes",
            c.DCGM_EXPORTER: s.dcgm_exporter.enabled and self.gpus,
        }
        return frozenset(c for c, on in wanted.items() if on)

    @property
    def host_namespace(self) -> str:
        """Where the collectors that read their host run on kubernetes (their own namespace)."""
        return self.saturation.host_namespace or f"{self.name}-host-metrics"

    @property
    def kubelet_scraped(self) -> bool:
        return self.target == "kubernetes" and self.saturation.kubelet.enabled

    @property
    def containers_scraped(self) -> bool:
        """Whether per-container figures (job `cadvisor`) are scraped: docker's cAdvisor
        container, or every kubelet's cAdvisor endpoint on Kubernetes."""
        return cv.Component.CADVISOR in self.collectors or self.kubelet_scraped

    def runbook_url(self, alert: str) -> str:
        return self.runbook_url_pattern.replace("{alert}", alert)

    def alert_override(self, alert: str) -> AlertOverride:
        return self.alert_overrides.get(alert, AlertOverride())
