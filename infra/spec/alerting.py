"""Alerting: where Alertmanager sends notifications, and when the platform alerts fire.

The routing tree is checked against the declared receivers here, so a typo in
a receiver name fails the config instead of silencing an alert at runtime.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from infra import conventions as cv
from infra.spec.base import (
    Duration,
    LabelName,
    Matcher,
    Name,
    Quantity,
    Spec,
    refuse_half_pair,
    refuse_repeats,
)
from infra.spec.components import Resources
from infra.spec.secret_refs import SecretRef
from infra.units import duration_seconds, format_duration


class _Receiver(Spec):
    name: Name = Field(description="Receiver name that routes refer to.")
    send_resolved: bool = Field(default=True, description="Also notify when an alert resolves.")


class DiscardReceiver(_Receiver):
    kind: Literal["discard"] = Field(
        description="Notifies nobody; alerts stay visible in Alertmanager and Grafana."
    )


class WebhookReceiver(_Receiver):
    plaintext_secrets = ("url", "token", "bearerToken")

    kind: Literal["webhook"] = Field(description="Generic webhook (JSON POST).")
    url_secret: SecretRef = Field(description="Secret config key holding the webhook URL.")
    max_alerts: int = Field(default=0, ge=0, description="Most alerts per message; 0 sends all.")


class SlackReceiver(_Receiver):
    plaintext_secrets = ("url", "apiUrl")

    kind: Literal["slack"] = Field(description="Slack incoming webhook.")
    url_secret: SecretRef = Field(description="Secret config key holding the Slack webhook URL.")
    channel: str = Field(
        description="Channel to post in, e.g. #ml-alerts.", pattern=r"^[#@][\w.-]+$"
    )


class EmailReceiver(_Receiver):
    plaintext_secrets = ("password", "authPassword")

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

    @model_validator(mode="after")
    def _auth_pairs(self) -> Self:
        refuse_half_pair(
            ("authUsername", self.auth_username),
            ("authPasswordSecret", self.auth_password_secret),
        )
        return self


class PagerDutyReceiver(_Receiver):
    plaintext_secrets = ("routingKey", "serviceKey")

    kind: Literal["pagerduty"] = Field(description="PagerDuty Events API v2.")
    routing_key_secret: SecretRef = Field(
        description="Secret config key holding the PagerDuty integration (routing) key."
    )


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

    def timings(self) -> dict[str, str]:
        """The waits this route sets (unset ones are inherited), keyed as Alertmanager and
        Grafana's notification policy both name them."""
        waits = {
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
        }
        return {key: value for key, value in waits.items() if value}

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

    @property
    def tick_ms(self) -> int:
        """The heartbeat route's group_interval: a quarter of the interval."""
        return int(duration_seconds(self.interval) * 1000) // 4

    def timings(self) -> dict[str, str]:
        """group_interval and repeat_interval that repeat the Watchdog every `interval`.

        Alertmanager re-sends at a group_interval tick once more than repeat_interval has
        passed since the last send. Ticks are a quarter interval apart; a repeat of seven
        eighths makes the fourth tick the first past it, by half a tick either way, so timer
        jitter cannot move the repeat a tick early or late (with a repeat of exactly three
        quarters, the third tick would pass or not by milliseconds).
        """
        tick = self.tick_ms

        def text(ms: int) -> str:
            return format_duration(ms // 1000) if ms % 1000 == 0 else f"{ms}ms"

        return {"group_interval": text(tick), "repeat_interval": text(4 * tick - tick // 2)}


GoDuration = Annotated[
    str, Field(pattern=r"^(\d+(h|m|s|ms))+$", description="A Go duration: 15s, 200ms, 1m30s.")
]


class Gossip(Spec):
    """How an Alertmanager cluster's peers share silences and the notification log.

    Each peer sends a group's notification only after `peerTimeout` times its position in
    the cluster, and only if the log gossiped by the peers before it does not show the
    notification sent: peer 0 sends at once, peer 1 after one timeout, and so on. So a dead
    peer delays notifications by one timeout, and peers cut off from each other for longer
    than a timeout both send (a duplicate, never a loss). Gossip must reach every peer well
    within a timeout: `gossipInterval` is 25 times shorter by default.
    """

    peer_timeout: GoDuration = Field(
        default="5s",
        description="Wait per position before a peer sends what the peers before it did not. "
        "Shorter than Alertmanager's 15s, so that the last peer's wait, (replicas - 1) times "
        "this, stays under every group interval: a 1m heartbeat ticks every 15s.",
    )
    gossip_interval: GoDuration = Field(
        default="200ms", description="How often state changes are gossiped to peers."
    )
    pushpull_interval: GoDuration = Field(
        default="1m",
        description="How often peers exchange their full state: silences made during a "
        "split reach the other side within one interval of the heal.",
    )

    @model_validator(mode="after")
    def _gossip_within_timeout(self) -> Self:
        if duration_seconds(self.gossip_interval) * 5 > duration_seconds(self.peer_timeout):
            raise ValueError(
                f"gossipInterval {self.gossip_interval} must be at most a fifth of peerTimeout "
                f"{self.peer_timeout}: peers would send before the log reaches them"
            )
        return self


class Alertmanager(Spec):
    replicas: int = Field(
        default=1, ge=1, le=5, description="Replicas; more than one forms an HA cluster."
    )
    gossip: Gossip = Field(
        default_factory=Gossip, description="Cluster settings when replicas > 1."
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
        refuse_repeats("receiver", names)
        reserved = {
            cv.WATCHDOG_DISCARD_RECEIVER: "the Watchdog",
            cv.ROLLBACK_RECEIVER: "the rollback",
        }
        for name, owner in reserved.items():
            if name in names:
                raise ValueError(f"receivers: {name!r} is reserved for {owner}; use another name")
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

    @model_validator(mode="after")
    def _peers_wait_less_than_a_tick(self) -> Self:
        """The last peer waits (replicas - 1) x peerTimeout before it checks the notification
        log; a wait of a group interval or more lands on the first peer's next tick, and both
        send (measured in tests/live/test_ha.py)."""
        if self.replicas == 1:
            return self
        wait = (self.replicas - 1) * duration_seconds(self.gossip.peer_timeout)
        ticks = [
            (f"{path}.groupInterval", duration_seconds(r.group_interval))
            for path, r in self.route.walk()
            if r.group_interval
        ]
        if self.heartbeat is not None:
            ticks.append(("heartbeat.interval / 4", Decimal(self.heartbeat.tick_ms) / 1000))
        for where, tick in ticks:
            if wait >= tick:
                raise ValueError(
                    f"gossip.peerTimeout: {self.replicas} replicas wait up to {wait}s "
                    f"((replicas - 1) x {self.gossip.peer_timeout}), not less than {where} "
                    f"({tick}s): the last peer would send what the first already sent; "
                    "lower peerTimeout or lengthen that interval"
                )
        return self


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
    estimated_accuracy_window: Duration = Field(
        default="1h",
        description="Range the accuracy estimated from calibrated confidence (before labels) "
        "is judged over.",
    )
    min_estimated_predictions: int = Field(
        default=200,
        ge=1,
        description="Predictions the window must hold before ServingLowEstimatedAccuracy may "
        "fire (below minAccuracy): an estimate over a few predictions is noise.",
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
    sample_limit_ratio: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="PrometheusTargetNearSampleLimit fires above this share of a scrape job's "
        "sample_limit (the budget x headroom, infra.budgets): over the budget, before "
        "Prometheus drops the target's scrapes.",
    )
    container_memory_ratio: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="PlatformContainerMemoryNearLimit fires above this working set / memory limit.",
    )
    cpu_throttled_ratio: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="PlatformContainerCpuThrottled fires above this share of CPU periods "
        "throttled over saturationWindow.",
    )
    saturation_window: Duration = Field(
        default="15m",
        description="Range CPU throttling, restarts and GPU utilisation are judged over.",
    )
    max_container_restarts: int = Field(
        default=3,
        ge=1,
        description="PlatformContainerRestarting fires at this many restarts in saturationWindow.",
    )
    volume_full_within: Duration = Field(
        default="24h",
        description="PlatformVolumeFillingUp and NodeFilesystemFillingUp fire when the trend "
        "over volumeTrendWindow fills the volume within this.",
    )
    volume_trend_window: Duration = Field(
        default="6h", description="Range the filling trend of a volume is fitted over."
    )
    volume_free_ratio: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="A filling volume alerts only when its free share is below this (a "
        "brief burst on a mostly empty volume does not).",
    )
    tsdb_retention_ratio: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="PrometheusTsdbNearRetentionSize fires above this share of "
        "prometheus.retentionSize (only when it is set).",
    )
    node_memory_available_ratio: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="NodeMemoryLow fires when a node's available memory is below this share.",
    )
    gpu_memory_ratio: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="ServingGpuMemoryNearFull fires above this share of GPU memory used.",
    )
    gpu_utilization_ratio: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="ServingGpuSaturated fires when GPU utilisation stays above this over "
        "saturationWindow.",
    )


class AlertOverride(Spec):
    disabled: bool = Field(default=False, description="Leave the alert out of the rules.")
    for_: Duration | None = Field(
        default=None, alias="for", description="Replace the alert's `for` duration."
    )
    severity: cv.Severity | None = Field(default=None, description="Replace the alert's severity.")
