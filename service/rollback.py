"""Guarded automatic rollback: Alertmanager's webhook for the accuracy alerts.

    python -m service.rollback   (settings from MLOPS_ROLLBACK_* environment variables)

A firing accuracy alert for model M, version V rolls M's alias back to the
previous champion only when every guard holds: V is the current champion, it
was promoted (not itself rolled back to) within the window, a previous champion
is on record, and M was not rolled back within the cooldown. The cooldown is a
tag on the registered model, so it holds across restarts and replicas. The move
is `service.promote`'s own (`move_with`), with tags saying which alert caused
it, and is pushed as a deployment event. Anything else is logged and counted,
never acted on; a second notification of the same alert finds V no longer
champion. Requests need `Authorization: Bearer <token>`, the token read from a
file on every request (rotation needs no restart).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import catalog
from service.promote import (
    PREVIOUS_TAG,
    PROMOTED_ACTION_TAG,
    PROMOTED_AT_TAG,
    Move,
    UsageError,
    champion_of,
    move_with,
    parse_timestamp,
    push_event,
    timestamp,
)

log = logging.getLogger("service.rollback")
WHO = "service.rollback"
LAST_ROLLBACK_TAG = "mlops.last_rollback_at"  # on the registered model: the cooldown's start
VERSION_LABEL = "model_version"
MAX_BODY_BYTES = 1_048_576


class RollbackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_ROLLBACK_", frozen=True, extra="ignore")

    mlflow_tracking_uri: str = Field(
        description="MLflow tracking server URL.", pattern=r"^(https?|file)://\S+$"
    )
    token_file: Path = Field(description="File holding the bearer token Alertmanager sends.")
    alerts: str = Field(description="Comma-separated alert names that may cause a rollback.")
    models: str = Field(default="", description="Comma-separated served models (metric labels).")
    model_alias: str = Field(default="champion", description="Alias the serving API follows.")
    promoted_within_seconds: float = Field(gt=0, description="Newest promotions only.")
    cooldown_seconds: float = Field(ge=0, description="Least time between two rollbacks.")
    pushgateway_url: str | None = Field(default=None, description="For the deployment event.")
    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=9095, ge=1, le=65535, description="Port to listen on.")
    log_level: str = Field(default="INFO", description="Log level.")

    def policy(self) -> Policy:
        return Policy(
            alerts=frozenset(_names(self.alerts)),
            alias=self.model_alias,
            promoted_within=self.promoted_within_seconds,
            cooldown=self.cooldown_seconds,
        )


def _names(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]


@dataclass(frozen=True)
class Policy:
    """The guards, as the stack's spec sets them."""

    alerts: frozenset[str]
    alias: str
    promoted_within: float
    cooldown: float


class Alert(BaseModel):
    """One alert of an Alertmanager webhook (v4) notification: the fields read here."""

    model_config = ConfigDict(extra="ignore")
    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""  # noqa: N815 - Alertmanager's spelling
    fingerprint: str = ""


class Notification(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str = Field(pattern="^4$")
    alerts: list[Alert] = Field(max_length=1000)


@dataclass(frozen=True)
class Champion:
    version: str
    tags: dict[str, str]


class Registry(Protocol):
    """What the decision needs from the model registry (MLflow, or a fake in unit tests)."""

    def champion(self, model: str, alias: str) -> Champion | None: ...
    def model_tags(self, model: str) -> dict[str, str]: ...
    def roll_back(
        self, model: str, alias: str, version: str, reason: str, why: dict[str, str]
    ) -> Move: ...
    def set_model_tag(self, model: str, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Decision:
    model: str
    version: str
    outcome: str  # one of catalog.ROLLBACK_OUTCOMES
    detail: str
    moved: Move | None = None


class MlflowRegistry:
    """The registry through MLflow's client, moving the alias with service.promote's code."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow import MlflowClient  # noqa: PLC0415 - heavy; keeps imports fast

        self.client = MlflowClient(tracking_uri)

    def champion(self, model: str, alias: str) -> Champion | None:
        found = champion_of(self.client, model, alias)
        return None if found is None else Champion(str(found.version), dict(found.tags or {}))

    def model_tags(self, model: str) -> dict[str, str]:
        return dict(self.client.get_registered_model(model).tags or {})

    def roll_back(
        self, model: str, alias: str, version: str, reason: str, why: dict[str, str]
    ) -> Move:
        return move_with(
            self.client, model, alias, None, reason=reason, who=WHO, expected=version,
            demoted_tags=why,
        )  # fmt: skip

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        self.client.set_registered_model_tag(model, key, value)


def _guard(registry: Registry, policy: Policy, model: str, version: str, now: float) -> str:
    """The first guard that does not hold ('' when all do), as its outcome."""
    champion = registry.champion(model, policy.alias)
    if champion is None or champion.version != version:
        return "not_champion"
    if champion.tags.get(PROMOTED_ACTION_TAG) == "rollback":
        return "no_previous"  # it is where a rollback went: its previous is history
    try:
        promoted_at = parse_timestamp(champion.tags.get(PROMOTED_AT_TAG, ""))
    except ValueError:
        return "outside_window"  # never promoted on the record: not a recent promotion
    if now - promoted_at > policy.promoted_within:
        return "outside_window"
    if not champion.tags.get(PREVIOUS_TAG):
        return "no_previous"
    last = registry.model_tags(model).get(LAST_ROLLBACK_TAG)
    if last:
        try:
            if now - parse_timestamp(last) < policy.cooldown:
                return "cooldown"
        except ValueError:
            return "cooldown"  # an unreadable record: do not act on a guess
    return ""


def _alerted_version(
    registry: Registry, policy: Policy, alert: Alert, model: str
) -> tuple[str, str]:
    """The version ALERT is about, or '' and the outcome that says why none is: its
    model_version label; for an alert naming only the model (an SLO counts every version of
    it, as `<model>-accuracy`'s page does), the champion, if it was promoted before the alert
    started (an alert older than the promotion was about a version before it)."""
    version = alert.labels.get(VERSION_LABEL, "")
    if version:
        return version, ""
    champion = registry.champion(model, policy.alias)
    if champion is None:
        return "", "not_champion"
    try:
        promoted = parse_timestamp(champion.tags.get(PROMOTED_AT_TAG, ""))
        started = alert_time(alert.startsAt)
    except ValueError:
        return "", "missing_labels"  # no time to tell which version the alert was about
    return (champion.version, "") if promoted <= started else ("", "not_champion")


def alert_time(stamp: str) -> float:
    """Alertmanager's RFC 3339 time (nanoseconds, `Z`) as Unix seconds; ValueError if not one."""
    found = _RFC3339.fullmatch(stamp)
    if found is None:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    when, fraction, zone = found.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{when}{(fraction or '')[:7]}{zone}").timestamp()


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _why(alert: Alert) -> dict[str, str]:
    """The tags that say which alert caused a rollback, on the version rolled away from."""
    value = alert.annotations.get("summary") or alert.annotations.get("description", "")
    return {
        "mlops.rollback_alert": alert.labels.get("alertname", ""),
        "mlops.rollback_alert_summary": value[:500],
        "mlops.rollback_alert_fingerprint": alert.fingerprint,
        "mlops.rollback_alert_starts_at": alert.startsAt,
    }


def decide(registry: Registry, policy: Policy, alert: Alert, now: float) -> Decision:
    """What to do about one alert, done: a rollback when every guard holds, else nothing."""
    name = alert.labels.get("alertname", "")
    model, version = alert.labels.get("model", ""), alert.labels.get(VERSION_LABEL, "")
    if alert.status != "firing":
        return Decision(model, version, "resolved", f"{name} resolved")
    if name not in policy.alerts:
        return Decision(model, version, "not_an_accuracy_alert", f"{name} is not a rollback alert")
    if not model:
        return Decision(model, version, "missing_labels", f"{name} names no model")
    try:
        version, refused = _alerted_version(registry, policy, alert, model)
        if not version:
            return Decision(model, version, refused, f"{name}: {refused} (no model_version)")
        refused = _guard(registry, policy, model, version, now)
        if refused:
            return Decision(model, version, refused, f"{name}: {refused}")
        reason = f"{name} firing since {alert.startsAt or 'unknown'}"
        moved = registry.roll_back(model, policy.alias, version, reason, _why(alert))
        registry.set_model_tag(model, LAST_ROLLBACK_TAG, timestamp(now))
    except UsageError as err:  # the alias moved between the guard and the move
        return Decision(model, version, "not_champion", str(err))
    except Exception as err:  # the registry is away or refused: Alertmanager retries
        log.warning("registry error on %s v%s: %s", model, version, err)
        return Decision(model, version, "registry_error", type(err).__name__)
    return Decision(model, version, "rolled_back", f"{version} -> {moved.version}", moved)


class Metrics:
    """The service's own metrics, every label set present from the start."""

    def __init__(self, models: Iterable[str]) -> None:
        from prometheus_client import CollectorRegistry, Counter  # noqa: PLC0415

        self.registry = CollectorRegistry(auto_describe=True)
        self.models = frozenset(models)
        d, r = catalog.ROLLBACK_DECISIONS, catalog.ROLLBACK_REJECTED
        name = d.name.removesuffix("_total")
        self.decisions = Counter(name, d.help, d.labels, registry=self.registry)
        self.rejected = Counter(
            r.name.removesuffix("_total"), r.help, r.labels, registry=self.registry
        )
        for model in (*sorted(self.models), catalog.ROLLBACK_OTHER_MODEL):
            for outcome in catalog.ROLLBACK_OUTCOMES:
                self.decisions.labels(model=model, outcome=outcome)
        for reason in catalog.ROLLBACK_REJECTIONS:
            self.rejected.labels(reason=reason)

    def decided(self, decision: Decision) -> None:
        model = decision.model if decision.model in self.models else catalog.ROLLBACK_OTHER_MODEL
        self.decisions.labels(model=model, outcome=decision.outcome).inc()

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest  # noqa: PLC0415

        lines = generate_latest(self.registry).decode().splitlines(keepends=True)
        # `_created` series would double the budget and say nothing a reset does not.
        return "".join(line for line in lines if "_created" not in line).encode()


def _authorized(header: str, token_file: Path) -> bool:
    token = token_file.read_bytes().strip()
    scheme, _, offered = header.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(offered.strip().encode(), token)


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"reason": reason, "message": message}}, status_code=status)


def _parse(body: bytes) -> Notification:
    try:
        return Notification.model_validate(json.loads(body))
    except (ValueError, ValidationError) as err:
        raise ValueError(str(err).splitlines()[0]) from None


class Service:
    """The webhook's state: settings, registry, metrics."""

    def __init__(self, settings: RollbackSettings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.policy = settings.policy()
        self.registry = registry or MlflowRegistry(settings.mlflow_tracking_uri)
        self.metrics = Metrics(_names(settings.models))

    def refuse(self, status: int, reason: str, message: str) -> JSONResponse:
        self.metrics.rejected.labels(reason=reason).inc()
        log.warning("refused a notification (%s): %s", reason, message)
        return _error(status, reason, message)

    def handle(self, notification: Notification) -> list[Decision]:
        decisions = []
        for alert in notification.alerts:
            decision = decide(self.registry, self.policy, alert, time.time())
            self.metrics.decided(decision)
            log.info(
                "%s v%s: %s (%s)", decision.model, decision.version, decision.outcome,
                decision.detail, extra={"model": decision.model, "outcome": decision.outcome},
            )  # fmt: skip
            if decision.moved is not None and self.settings.pushgateway_url:
                self.announce(decision.moved)
            decisions.append(decision)
        return decisions

    def announce(self, moved: Move) -> None:
        assert self.settings.pushgateway_url is not None
        try:
            push_event(self.settings.pushgateway_url, moved)
        except OSError as err:  # the alias moved: the annotation is what is missing
            log.error("rolled back, but the deployment event was not pushed: %s", err)

    def ready(self) -> tuple[bool, str]:
        import httpx  # noqa: PLC0415

        try:
            if not self.settings.token_file.read_bytes().strip():
                return False, "the token file is empty"
        except OSError as err:
            return False, f"the token file is unreadable: {type(err).__name__}"
        uri = self.settings.mlflow_tracking_uri.rstrip("/")
        if uri.startswith("http"):
            try:
                if httpx.get(f"{uri}/health", timeout=2).status_code != 200:
                    return False, "MLflow is not healthy"
            except httpx.HTTPError as err:
                return False, f"MLflow is unreachable: {type(err).__name__}"
        return True, "ready"


async def _alerts(service: Service, request: Request) -> Response:
    try:
        authorized = _authorized(
            request.headers.get("authorization", ""), service.settings.token_file
        )
    except OSError:
        return service.refuse(503, "unauthorized", "the token file is unreadable")
    if not authorized:
        return service.refuse(401, "unauthorized", "a valid bearer token is required")
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        return service.refuse(413, "body_too_large", f"bodies are at most {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return service.refuse(413, "body_too_large", f"bodies are at most {MAX_BODY_BYTES} bytes")
    try:
        notification = _parse(body)
    except ValueError as err:
        return service.refuse(400, "malformed", f"not an Alertmanager v4 notification: {err}")
    decisions = await run_in_threadpool(service.handle, notification)
    failed = any(d.outcome == "registry_error" for d in decisions)
    return JSONResponse(
        {
            "decisions": [
                {
                    "model": d.model,
                    "model_version": d.version,
                    "outcome": d.outcome,
                    "detail": d.detail,
                }
                for d in decisions
            ]
        },
        # Alertmanager retries a notification that got a 5xx; the decisions are idempotent.
        status_code=503 if failed else 200,
    )


def app(service: Service) -> Starlette:
    """The ASGI app: POST /alerts, /readyz, /livez, /metrics; JSON errors, never a 500."""

    async def alerts(request: Request) -> Response:
        try:
            return await _alerts(service, request)
        except Exception as err:  # whatever happens, an answer Alertmanager can retry
            log.exception("notification failed")
            return _error(503, "internal", type(err).__name__)

    async def readyz(_: Request) -> Response:
        ok, why = await run_in_threadpool(service.ready)
        return JSONResponse({"status": why}, status_code=200 if ok else 503)

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def metrics(_: Request) -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return _error(status, "not_found" if status == 404 else "method", str(exc))

    return Starlette(
        routes=[
            Route("/alerts", alerts, methods=["POST"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/livez", livez, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )


def main() -> int:
    try:
        settings = RollbackSettings()  # from the environment
    except ValidationError as err:
        problems = "; ".join(
            f"MLOPS_ROLLBACK_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in err.errors(include_url=False, include_input=False)
        )
        print(f"invalid rollback settings: {problems}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    import uvicorn  # noqa: PLC0415

    uvicorn.run(app(Service(settings)), host=settings.host, port=settings.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
