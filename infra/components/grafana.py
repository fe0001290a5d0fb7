"""Grafana content as code: folders, datasources, dashboards, alerting and SLOs of one stack.

Grafana is where people look first, so what it shows must be the platform's
truth, not a hand-edited copy of it. Everything here derives from the spec:

- Datasources get the uids the dashboards reference (`conventions.DATASOURCE_UID`)
  and the URLs `Endpoints` gives, and are wired to each other so a slow bucket
  opens its trace (Prometheus exemplars -> Tempo), a log line opens its trace
  (Loki derived field on `trace_id` -> Tempo), and a span opens its logs
  (Tempo traces-to-logs -> Loki).
- Contact points and the notification policy come from the same receivers and
  route tree as alertmanager.yml, node for node, so an alert reaches the same
  people whichever engine evaluated it.
- Log-based alerts, which Prometheus cannot evaluate, are Grafana-managed rules
  over Loki, named and annotated by the same conventions as the platform alerts.
- SLO resources exist only for Grafana Cloud, whose SLO app they need.

A `discard` receiver has no Grafana twin: the provider refuses a contact point
without an integration. Grafana therefore mutes (with an always-active mute
timing) every policy that ends at a discard receiver, so it notifies nobody,
and the discard contact point itself hands alerts to the stack's own
Alertmanager, which discards them by the same tree. That hand-off is only ever
used by the root policy (a muted policy sends nothing), and an alert reaching
the root matched no child in Grafana, so it matches none in Alertmanager
either. Email receivers map to Grafana's email integration, which sends
through Grafana's own SMTP settings: the receiver's smarthost, sender and
password belong in the Grafana server's configuration.

Every mapping is a plain function without Pulumi side effects, so tests check
the content without a Grafana; `GrafanaContent` only declares resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeVar

import pulumi
import pulumiverse_grafana as grafana
from pulumiverse_grafana import alerting, oss
from pulumiverse_grafana import slo as grafana_slo

import dashboards
from infra import alerts, queries
from infra import conventions as cv
from infra.alerts import Kind, ResolvedAlert
from infra.alerts import logs as log_alerts
from infra.alerts.model import SLOTH_SEVERITY_LABEL
from infra.endpoints import Endpoints
from infra.render.alertmanager import SLACK_TEXT, SLACK_TITLE
from infra.render.slo import error_ratio_expr, slo_labels
from infra.spec import (
    SLO,
    DiscardReceiver,
    EmailReceiver,
    PagerDutyReceiver,
    PlatformSpec,
    Receiver,
    Route,
    SlackReceiver,
    WebhookReceiver,
)
from infra.units import duration_seconds

T = TypeVar("T")
C = cv.Component

TYPE_TOKEN: Final = "mlops:grafana:Content"

FOLDER_TITLES: Final[Mapping[str, str]] = {
    "serving": "MLOps serving",
    "slo": "MLOps SLOs",
    "platform": "MLOps platform",
}
# Datasource kind (a key of conventions.DATASOURCE_UID) -> Grafana plugin type,
# the component it reads, and its title.
DATASOURCE_TYPES: Final[Mapping[str, str]] = {
    "prometheus": "prometheus",
    "loki": "loki",
    "tempo": "tempo",
    "alertmanager": "alertmanager",
}
DATASOURCE_COMPONENTS: Final[Mapping[str, cv.Component]] = {
    "prometheus": C.PROMETHEUS,
    "loki": C.LOKI,
    "tempo": C.TEMPO,
    "alertmanager": C.ALERTMANAGER,
}
DATASOURCE_TITLES: Final[Mapping[str, str]] = {
    "prometheus": "Prometheus",
    "loki": "Loki",
    "tempo": "Tempo",
    "alertmanager": "Alertmanager",
}

# The exemplars Prometheus holds come from Tempo's metrics generator (span
# metrics, remote-written with exemplars), which labels them `traceID`.
EXEMPLAR_TRACE_ID_LABEL: Final = "traceID"
# The serving API's JSON log lines carry the span's trace id in this field
# (service.telemetry.JsonFormatter); the derived field finds it in the line.
LOG_TRACE_ID_FIELD: Final = "trace_id"
LOG_TRACE_ID_REGEX: Final = rf'"{LOG_TRACE_ID_FIELD}":\s*"(\w+)"'
# Traces-to-logs: the span's service.name is the stream's service_name label.
TRACE_TO_LOG_TAGS: Final = ({"key": "service.name", "value": "service_name"},)
TRACE_TO_LOG_SHIFT: Final = "5m"

# Log-based alerts (infra.alerts.logs): Grafana-managed, because Prometheus cannot read Loki.
SERVING_ERROR_LOG_SPIKE: Final = cv.LogAlert.SERVING_ERROR_LOG_SPIKE.value
LOG_ALERTS: Final = tuple(a.value for a in cv.LogAlert)
LOG_RULE_GROUP: Final = log_alerts.GROUP
LOG_RULE_INTERVAL_SECONDS: Final = 60
EXPR_DATASOURCE_UID: Final = "__expr__"
# The Grafana SLO app's alert for each Sloth severity.
SLO_BURNS: Final[Mapping[cv.Severity, str]] = {
    cv.Severity.PAGE: "fastburn",
    cv.Severity.TICKET: "slowburn",
}

# Grafana Cloud's hosted Prometheus: the SLO app reads the SLI from it and
# writes its recording rules to it (the stack's own Prometheus has no ruler API
# and is not reachable from Grafana Cloud; it remote-writes there instead).
CLOUD_PROMETHEUS_UID: Final = "grafanacloud-prom"

# The deepest route nesting the provider's policy schema accepts under the root.
MAX_POLICY_DEPTH: Final = 6
_MATCHER_RE: Final = re.compile(
    r'^\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*$'
)


def encode(data: Mapping[str, Any]) -> str:
    """JSON for a provider string field: sorted keys, so a diff shows only real changes."""
    return json.dumps(data, sort_keys=True)


def folder_title(key: str) -> str:
    return FOLDER_TITLES.get(key, f"MLOps {key}")


def datasource_url(kind: str, endpoints: Endpoints) -> str:
    """Where Grafana reaches a datasource: the component's in-network URL."""
    return endpoints[DATASOURCE_COMPONENTS[kind]].url()


def datasource_json_data(spec: PlatformSpec) -> dict[str, dict[str, Any]]:
    """Each datasource's jsonData, by kind, with the correlations between them."""
    uid = cv.DATASOURCE_UID
    tempo: dict[str, Any] = {
        "tracesToLogsV2": {
            "datasourceUid": uid["loki"],
            "filterByTraceID": True,
            "filterBySpanID": False,
            "spanStartTimeShift": f"-{TRACE_TO_LOG_SHIFT}",
            "spanEndTimeShift": TRACE_TO_LOG_SHIFT,
            "tags": [dict(t) for t in TRACE_TO_LOG_TAGS],
        },
        "lokiSearch": {"datasourceUid": uid["loki"]},
        "nodeGraph": {"enabled": True},
        "search": {"hide": False},
    }
    if spec.tempo.metrics_generator:
        tempo["serviceMap"] = {"datasourceUid": uid["prometheus"]}
    return {
        "prometheus": {
            "httpMethod": "POST",
            "prometheusType": "Prometheus",
            "timeInterval": spec.prometheus.scrape_interval,
            "exemplarTraceIdDestinations": [
                {"datasourceUid": uid["tempo"], "name": EXEMPLAR_TRACE_ID_LABEL}
            ],
        },
        "loki": {
            "maxLines": 1000,
            "derivedFields": [
                {
                    "name": LOG_TRACE_ID_FIELD,
                    "matcherType": "regex",
                    "matcherRegex": LOG_TRACE_ID_REGEX,
                    "datasourceUid": uid["tempo"],
                    "url": "${__value.raw}",
                    "urlDisplayLabel": "Open trace in Tempo",
                }
            ],
        },
        "tempo": tempo,
        "alertmanager": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
    }


def parse_matcher(matcher: str) -> dict[str, str]:
    """An Alertmanager matcher (`severity=~"critical|page"`) as Grafana's label/match/value."""
    found = _MATCHER_RE.match(matcher)
    if found is None:
        raise ValueError(f"not an Alertmanager matcher: {matcher!r}")
    value = re.sub(
        r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), found.group("value")
    )
    return {"label": found.group("label"), "match": found.group("op"), "value": value}


def discard_mute_timing(spec: PlatformSpec) -> str:
    """Name of the always-active mute timing that silences policies ending at a discard receiver."""
    return f"{spec.name}-discard"


def _policy(
    spec: PlatformSpec, route: Route, inherited: str, discard: set[str], depth: int
) -> dict[str, Any]:
    if depth > MAX_POLICY_DEPTH:
        raise ValueError(
            f"alertmanager.route nests deeper than the {MAX_POLICY_DEPTH} levels "
            "Grafana's notification policy accepts"
        )
    receiver = route.receiver or inherited
    out: dict[str, Any] = {}
    if route.receiver:
        out["contact_point"] = route.receiver
    if depth > 0 and route.matchers:
        out["matchers"] = [parse_matcher(m) for m in route.matchers]
    if depth == 0 or route.group_by is not None:
        out["group_bies"] = list(route.group_by or ())
    out |= route.timings()
    if depth > 0:
        out["continue_"] = route.continue_
        if receiver in discard:
            out["mute_timings"] = [discard_mute_timing(spec)]
    if route.routes:
        out["policies"] = [
            _policy(spec, child, receiver, discard, depth + 1) for child in route.routes
        ]
    return out


def notification_policy_tree(spec: PlatformSpec) -> dict[str, Any]:
    """Grafana's notification policy, node for node the Alertmanager route tree.

    Keys are the provider's argument names (`contact_point`, `group_bies`,
    `continue_`, `policies`, ...). A child names a contact point, group_by or
    timing only where the route does; otherwise it inherits, as in
    Alertmanager. Children whose receiver (own or inherited) is a discard
    receiver carry the always-active mute timing.
    """
    am = spec.alertmanager
    discard = {r.name for r in am.receivers if isinstance(r, DiscardReceiver)}
    assert am.route.receiver is not None  # the spec requires a root receiver
    return _policy(spec, am.route, am.route.receiver, discard, 0)


def walk_policies(policy: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield policy
    for child in policy.get("policies", ()):
        yield from walk_policies(child)


def _secret(secrets: Mapping[str, T], receiver: str, key: str) -> T:
    if key not in secrets:
        raise ValueError(
            f"receiver {receiver}: the value of secret config key {key!r} was not passed to "
            "GrafanaContent (GrafanaContentArgs.secrets)"
        )
    return secrets[key]


def contact_point_integrations(
    receiver: Receiver, secrets: Mapping[str, T], alertmanager_url: str
) -> dict[str, Any]:
    """A receiver as the ContactPoint arguments of its Grafana integration (provider names).

    `secrets` maps secret config keys to their values; they are placed as given,
    so Outputs stay Outputs (and secrets stay secret).
    """
    resolved = {"disable_resolve_message": not receiver.send_resolved}
    match receiver:
        case DiscardReceiver():
            # Used by the root policy only (muted elsewhere): see the module docstring.
            return {"alertmanagers": [{"url": alertmanager_url}]}
        case WebhookReceiver():
            url = _secret(secrets, receiver.name, receiver.url_secret)
            return {
                "webhooks": [
                    {"url": url, "http_method": "POST", "max_alerts": receiver.max_alerts}
                    | resolved
                ]
            }
        case SlackReceiver():
            url = _secret(secrets, receiver.name, receiver.url_secret)
            return {
                "slacks": [
                    {
                        "url": url,
                        "recipient": receiver.channel,
                        "title": SLACK_TITLE,
                        "text": SLACK_TEXT,
                    }
                    | resolved
                ]
            }
        case EmailReceiver():
            return {"emails": [{"addresses": list(receiver.to), "single_email": True} | resolved]}
        case PagerDutyReceiver():
            key = _secret(secrets, receiver.name, receiver.routing_key_secret)
            return {"pagerduties": [{"integration_key": key} | resolved]}
    raise TypeError(f"unknown receiver kind: {receiver!r}")


def error_log_query(window: str = log_alerts.WINDOW) -> str:
    """Error and critical log lines of the serving API over `window` (the log alert's by default)."""
    return queries.error_log_query(window)


def _expression(ref_id: str, model: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ref_id": ref_id,
        "datasource_uid": EXPR_DATASOURCE_UID,
        "relative_time_range": {"from_": 0, "to": 0},
        "model": encode(
            {"refId": ref_id, "datasource": {"type": "__expr__", "uid": EXPR_DATASOURCE_UID}}
            | dict(model)
        ),
    }


def log_alert_rules(spec: PlatformSpec) -> list[dict[str, Any]]:
    """The Grafana-managed log alerts (RuleGroup `rules`, provider names), overrides applied."""
    return [
        _log_rule(alert)
        for alert in alerts.resolve(spec)
        if alert.kind is Kind.LOG and alert.enabled
    ]


def _log_rule(alert: ResolvedAlert) -> dict[str, Any]:
    return {
        "name": alert.name,
        "condition": "C",
        "for_": alert.for_,
        "no_data_state": "OK",  # no error line at all is the healthy case
        "exec_err_state": "Error",
        "labels": dict(alert.labels),
        "annotations": alert.annotations,
        "datas": _log_datas(alert),
    }


def _log_datas(alert: ResolvedAlert) -> list[dict[str, Any]]:
    """A is the Loki query over the window before evaluation, B reduces it to its last value,
    C is the threshold and the rule's condition."""
    assert alert.window is not None
    loki_uid = cv.DATASOURCE_UID["loki"]
    query = {
        "refId": "A",
        "datasource": {"type": DATASOURCE_TYPES["loki"], "uid": loki_uid},
        "editorMode": "code",
        "expr": alert.expr,
        "queryType": "instant",
        "intervalMs": 1000,
        "maxDataPoints": 43200,
    }
    threshold = {"evaluator": {"type": "gt", "params": [alert.threshold]}}
    return [
        {
            "ref_id": "A",
            "datasource_uid": loki_uid,
            "query_type": "instant",
            "relative_time_range": {"from_": int(duration_seconds(alert.window)), "to": 0},
            "model": encode(query),
        },
        _expression("B", {"type": "reduce", "expression": "A", "reducer": "last", "settings": {}}),
        _expression("C", {"type": "threshold", "expression": "B", "conditions": [threshold]}),
    ]


def _pairs(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def slo_sli_query(slo: SLO) -> str:
    """The SLI as the Grafana SLO app reads it: the ratio of good events."""
    return f"1 - (\n{error_ratio_expr(slo, '$__rate_interval')}\n)"


def _slo_alerting(alert: ResolvedAlert) -> dict[str, Any]:
    """One burn-rate alert of the Grafana SLO app, labelled and annotated like the Sloth rule."""
    assert alert.burn is not None
    labels = {k: alert.labels[k] for k in (cv.SEVERITY_LABEL, SLOTH_SEVERITY_LABEL)}
    return {
        "labels": _pairs(labels),
        "annotations": _pairs(
            {
                "name": alert.name,
                # The app computes its own burn rates: only the promise applies.
                **alert.annotations | {cv.DESCRIPTION_ANNOTATION: f"{alert.burn.promise}."},
            }
        ),
    }


def slo_resource_args(spec: PlatformSpec, slo: SLO) -> dict[str, Any]:
    """A spec SLO as `slo.SLO` arguments (provider names), with page and ticket alerting."""
    objective = Decimal(str(slo.objective)) / 100
    labels = slo_labels(slo) | dict(slo.labels)
    alerting_args: dict[str, Any] = {"labels": _pairs(labels)}
    for alert in alerts.resolve(spec):
        if alert.burn is not None and alert.burn.slo.name == slo.name and alert.enabled:
            alerting_args[SLO_BURNS[alert.burn.severity]] = _slo_alerting(alert)
    return {
        "name": slo.name,
        "description": slo.description,
        "objectives": [{"value": float(objective), "window": slo.period}],
        "queries": [
            {
                "type": "freeform",
                "freeform": {
                    "query": slo_sli_query(slo),
                    "source_datasource_uid": CLOUD_PROMETHEUS_UID,
                },
            }
        ],
        "destination_datasource": {"uid": CLOUD_PROMETHEUS_UID},
        "labels": _pairs(labels),
        "alerting": alerting_args,
    }


def grafana_provider(
    name: str,
    spec: PlatformSpec,
    auth: pulumi.Input[str],
    opts: pulumi.ResourceOptions | None = None,
) -> grafana.Provider:
    """The provider for the stack's Grafana.

    `auth` is `user:password` for a self-run Grafana or a service-account token
    for Grafana Cloud; it is made a secret whatever it was.
    """
    return grafana.Provider(
        name,
        url=str(spec.grafana.url).rstrip("/"),
        auth=pulumi.Output.secret(auth),
        opts=opts,
    )


@dataclass(frozen=True)
class GrafanaContentArgs:
    spec: PlatformSpec
    endpoints: Endpoints
    # Dashboard uid -> its JSON (dashboards.to_json(dashboards.build_all(spec)[uid])).
    dashboards: Mapping[str, str]
    # Secret config key -> its value, for the keys receivers name (urlSecret, ...).
    secrets: Mapping[str, pulumi.Output[str]]


class GrafanaContent(pulumi.ComponentResource):
    """Everything the stack puts into Grafana; the Grafana provider comes through `opts`."""

    folder_uids: dict[str, pulumi.Output[str]]
    datasource_uids: dict[str, pulumi.Output[str]]
    dashboard_uids: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: GrafanaContentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._prefix = name
        spec = args.spec
        folders = self._folders()
        datasources = self._datasources(spec, args.endpoints)
        boards = self._dashboards(args.dashboards, folders, datasources)
        policy = self._notification_policy(spec, args)
        self._log_rules(spec, folders["platform"], datasources["loki"], policy)
        if spec.grafana.cloud:
            self._slos(spec, folders["slo"], policy)

        self.folder_uids = {key: folder.uid for key, folder in folders.items()}
        self.datasource_uids = {kind: ds.uid for kind, ds in datasources.items()}
        self.dashboard_uids = {uid: board.uid for uid, board in boards.items()}
        self.register_outputs(
            {
                "folder_uids": self.folder_uids,
                "datasource_uids": self.datasource_uids,
                "dashboard_uids": self.dashboard_uids,
            }
        )

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _folders(self) -> dict[str, oss.Folder]:
        return {
            key: oss.Folder(
                f"{self._prefix}-folder-{key}", uid=uid, title=folder_title(key), opts=self._child()
            )
            for key, uid in cv.FOLDER_UID.items()
        }

    def _datasources(self, spec: PlatformSpec, endpoints: Endpoints) -> dict[str, oss.DataSource]:
        json_data = datasource_json_data(spec)
        return {
            kind: oss.DataSource(
                f"{self._prefix}-datasource-{kind}",
                name=f"{spec.name} {DATASOURCE_TITLES[kind]}",
                type=DATASOURCE_TYPES[kind],
                uid=uid,
                url=datasource_url(kind, endpoints),
                access_mode="proxy",
                is_default=kind == "prometheus",
                json_data_encoded=encode(json_data[kind]),
                opts=self._child(),
            )
            for kind, uid in cv.DATASOURCE_UID.items()
        }

    def _dashboards(
        self,
        texts: Mapping[str, str],
        folders: Mapping[str, oss.Folder],
        datasources: Mapping[str, oss.DataSource],
    ) -> dict[str, oss.Dashboard]:
        """Each dashboard in its declared folder, once the datasources it reads exist."""
        folder_by_uid = {cv.FOLDER_UID[key]: folder for key, folder in folders.items()}
        boards: dict[str, oss.Dashboard] = {}
        for uid, text in sorted(texts.items()):
            if json.loads(text).get("uid") != uid:
                raise ValueError(f"dashboard {uid}: its JSON carries another uid")
            folder_uid = dashboards.FOLDERS.get(uid)
            if folder_uid not in folder_by_uid:
                raise ValueError(f"dashboard {uid}: no declared folder for it (dashboards.FOLDERS)")
            boards[uid] = oss.Dashboard(
                f"{self._prefix}-dashboard-{uid}",
                config_json=text,
                folder=folder_by_uid[folder_uid].uid,
                overwrite=True,
                opts=self._child(*datasources.values()),
            )
        return boards

    def _contact_points(
        self, spec: PlatformSpec, args: GrafanaContentArgs
    ) -> list[alerting.ContactPoint]:
        secrets: dict[str, pulumi.Output[str]] = {
            key: pulumi.Output.secret(value) for key, value in args.secrets.items()
        }
        alertmanager_url = args.endpoints[C.ALERTMANAGER].url()
        return [
            alerting.ContactPoint(
                f"{self._prefix}-contact-point-{receiver.name}",
                name=receiver.name,
                **contact_point_integrations(receiver, secrets, alertmanager_url),
                opts=self._child(),
            )
            for receiver in spec.alertmanager.receivers
        ]

    def _notification_policy(
        self, spec: PlatformSpec, args: GrafanaContentArgs
    ) -> alerting.NotificationPolicy:
        """The receivers' route tree, after its contact points and the discard mute timing."""
        tree = notification_policy_tree(spec)
        policy_needs: list[pulumi.Resource] = list(self._contact_points(spec, args))
        if any("mute_timings" in p for p in walk_policies(tree)):
            policy_needs.append(
                alerting.MuteTiming(
                    f"{self._prefix}-mute-timing-discard",
                    name=discard_mute_timing(spec),
                    intervals=[{}],  # an empty interval is always active
                    opts=self._child(),
                )
            )
        return alerting.NotificationPolicy(
            f"{self._prefix}-notification-policy",
            contact_point=tree["contact_point"],
            group_bies=tree["group_bies"],
            group_wait=tree.get("group_wait"),
            group_interval=tree.get("group_interval"),
            repeat_interval=tree.get("repeat_interval"),
            policies=tree.get("policies"),
            opts=self._child(*policy_needs),
        )

    def _log_rules(
        self,
        spec: PlatformSpec,
        folder: oss.Folder,
        loki: oss.DataSource,
        policy: alerting.NotificationPolicy,
    ) -> None:
        rules: list[Any] = log_alert_rules(spec)
        if rules:
            alerting.RuleGroup(
                f"{self._prefix}-rule-group-{LOG_RULE_GROUP}",
                name=LOG_RULE_GROUP,
                folder_uid=folder.uid,
                interval_seconds=LOG_RULE_INTERVAL_SECONDS,
                rules=rules,
                opts=self._child(loki, policy),
            )

    def _slos(
        self, spec: PlatformSpec, folder: oss.Folder, policy: alerting.NotificationPolicy
    ) -> None:
        for slo in spec.slos:
            grafana_slo.SLO(
                f"{self._prefix}-slo-{slo.name}",
                folder_uid=folder.uid,
                **slo_resource_args(spec, slo),
                opts=self._child(policy),
            )
