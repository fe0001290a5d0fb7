"""alertmanager.yml from the spec's receivers, routing tree and inhibitions.

Secrets stay out: every URL, key and password is read by Alertmanager from a
file under its `layout` secrets folder, which the Pulumi program mounts from a
Secret. The rendered file can go in a ConfigMap or a golden file as it is.
"""

from __future__ import annotations

from typing import Any

from infra import conventions as cv
from infra import layout
from infra.endpoints import Endpoints, for_spec
from infra.render._yaml import dump
from infra.spec import (
    DiscardReceiver,
    EmailReceiver,
    PagerDutyReceiver,
    PlatformSpec,
    Route,
    SlackReceiver,
    WebhookReceiver,
)

SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }}"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "<{{ .Annotations.runbook_url }}|Runbook>\n{{ end }}"
)


def _secret(receiver: str, field: str, root: str = "") -> str:
    return root + layout.of(cv.Component.ALERTMANAGER).secret(receiver, field)


def _route(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.receiver:
        out["receiver"] = route.receiver
    if route.matchers:
        out["matchers"] = list(route.matchers)
    if route.group_by is not None:
        out["group_by"] = list(route.group_by)
    out |= route.timings()
    if route.continue_:
        out["continue"] = True
    if route.routes:
        out["routes"] = [_route(r) for r in route.routes]
    return out


def _receiver(receiver: Any, root: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": receiver.name}
    match receiver:
        case DiscardReceiver():
            pass
        case WebhookReceiver():
            out["webhook_configs"] = [
                {
                    "url_file": _secret(receiver.name, "url", root),
                    "send_resolved": receiver.send_resolved,
                    "max_alerts": receiver.max_alerts,
                }
            ]
        case SlackReceiver():
            out["slack_configs"] = [
                {
                    "api_url_file": _secret(receiver.name, "url", root),
                    "channel": receiver.channel,
                    "send_resolved": receiver.send_resolved,
                    "title": SLACK_TITLE,
                    "text": SLACK_TEXT,
                }
            ]
        case EmailReceiver():
            email: dict[str, Any] = {
                "to": ", ".join(receiver.to),
                "from": receiver.from_,
                "smarthost": receiver.smarthost,
                "require_tls": receiver.require_tls,
                "send_resolved": receiver.send_resolved,
            }
            if receiver.auth_username:
                email["auth_username"] = receiver.auth_username
                email["auth_password_file"] = _secret(receiver.name, "password", root)
            out["email_configs"] = [email]
        case PagerDutyReceiver():
            out["pagerduty_configs"] = [
                {
                    "routing_key_file": _secret(receiver.name, "routing-key", root),
                    "send_resolved": receiver.send_resolved,
                    "links": [{"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}],
                }
            ]
    return out


def secret_files(spec: PlatformSpec) -> dict[str, str]:
    """Mounted file path -> the secret config key whose value goes there."""
    files: dict[str, str] = {}
    for r in spec.alertmanager.receivers:
        match r:
            case WebhookReceiver() | SlackReceiver():
                files[_secret(r.name, "url")] = r.url_secret
            case EmailReceiver() if r.auth_password_secret:
                files[_secret(r.name, "password")] = r.auth_password_secret
            case PagerDutyReceiver():
                files[_secret(r.name, "routing-key")] = r.routing_key_secret
    if spec.rollback.enabled:
        assert spec.rollback.token_secret is not None  # the spec requires it when enabled
        files[_secret(cv.ROLLBACK_RECEIVER, "token")] = spec.rollback.token_secret
    return files


def _rollback(spec: PlatformSpec, endpoints: Endpoints) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rollback service's route (first, and continuing: the alerts still reach people) and
    its webhook receiver, authenticated with the token file; resolved alerts are not sent."""
    names = "|".join(spec.rollback.alerts)
    route = {
        "receiver": cv.ROLLBACK_RECEIVER,
        "matchers": [f'alertname=~"{names}"'],
        "group_by": ["alertname", cv.MODEL_LABEL, cv.MODEL_VERSION_LABEL],
        "continue": True,
    }
    receiver = {
        "name": cv.ROLLBACK_RECEIVER,
        "webhook_configs": [
            {
                "url": endpoints[cv.Component.ROLLBACK].url(path="/alerts"),
                "send_resolved": False,
                "max_alerts": 0,
                "http_config": {
                    "authorization": {
                        "type": "Bearer",
                        "credentials_file": _secret(
                            cv.ROLLBACK_RECEIVER, "token", endpoints.files_root
                        ),
                    }
                },
            }
        ],
    }
    return route, receiver


def _watchdog_route(spec: PlatformSpec) -> dict[str, Any] | None:
    """The Watchdog's route, first under the root so no other route takes it: to the heartbeat
    receiver, repeated every interval, or (no heartbeat) to a receiver without integrations."""
    if spec.alert_override(cv.Alert.WATCHDOG).disabled:
        return None
    heartbeat = spec.alertmanager.heartbeat
    route: dict[str, Any] = {
        "receiver": heartbeat.receiver if heartbeat else cv.WATCHDOG_DISCARD_RECEIVER,
        "matchers": [f'alertname="{cv.Alert.WATCHDOG.value}"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
    }
    if heartbeat:
        route |= heartbeat.timings()
    return route


def alertmanager_config(spec: PlatformSpec, endpoints: Endpoints | None = None) -> str:
    am = spec.alertmanager
    route = _route(am.route)
    receivers = [_receiver(r, endpoints.files_root if endpoints else "") for r in am.receivers]
    watchdog = _watchdog_route(spec)
    if watchdog is not None:
        route["routes"] = [watchdog, *route.get("routes", [])]
        if am.heartbeat is None:
            receivers.append({"name": cv.WATCHDOG_DISCARD_RECEIVER})
    if spec.rollback.enabled:
        rollback_route, rollback_receiver = _rollback(spec, endpoints or for_spec(spec))
        route["routes"] = [rollback_route, *route.get("routes", [])]
        receivers.append(rollback_receiver)
    document: dict[str, Any] = {
        "global": {"resolve_timeout": am.resolve_timeout},
        "route": route,
        "inhibit_rules": [
            {
                "source_matchers": list(rule.source_matchers),
                "target_matchers": list(rule.target_matchers),
                **({"equal": list(rule.equal)} if rule.equal else {}),
            }
            for rule in am.inhibit_rules
        ],
        "receivers": receivers,
    }
    return dump(
        document,
        f"Alertmanager configuration of stack {spec.name}. Rendered by infra.render; do not edit.",
    )
