"""Grafana's content, checked for wiring: what links to what, who gets which alert, what stays secret.

The pure mappings are checked against the renderers they must agree with (the
Alertmanager route tree, the service's log format); the component runs under
the shared Pulumi mocks, and the tests read what it asked the provider for, in
the provider's wire names (camelCase).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import pulumi
import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from pydantic.alias_generators import to_camel

import dashboards
from dashboards import logs_traces
from infra import conventions as cv
from infra import endpoints as ep
from infra.components.grafana import (
    EXEMPLAR_TRACE_ID_LABEL,
    LOG_ALERTS,
    MAX_POLICY_DEPTH,
    SERVING_ERROR_LOG_SPIKE,
    GrafanaContent,
    GrafanaContentArgs,
    contact_point_integrations,
    discard_mute_timing,
    error_log_query,
    grafana_provider,
    notification_policy_tree,
    parse_matcher,
    slo_resource_args,
    walk_policies,
)
from infra.config import ROOT, StackConfig, from_stack_file, load_spec
from infra.render.alertmanager import alertmanager_config
from infra.spec import PlatformSpec
from service.telemetry import JsonFormatter
from tests.conftest import STACKS, stack_spec
from tests.pulumi_mocks import Mocks, Registered, is_secret_value, resolve, run_mocked, strings

FOLDER = "grafana:oss/folder:Folder"
DATASOURCE = "grafana:oss/dataSource:DataSource"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
CONTACT_POINT = "grafana:alerting/contactPoint:ContactPoint"
POLICY = "grafana:alerting/notificationPolicy:NotificationPolicy"
MUTE_TIMING = "grafana:alerting/muteTiming:MuteTiming"
RULE_GROUP = "grafana:alerting/ruleGroup:RuleGroup"
SLO_TYPE = "grafana:slo/sLO:SLO"
PROVIDER = "pulumi:providers:grafana"

# Fake values of every secret config key the shipped stacks' receivers name.
FAKE_SECRETS = {
    "slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/fake-slack-token",
    "incidentWebhookUrl": "https://incidents.example.com/hook/fake-incident-token",
    "pagerdutyRoutingKey": "fake-pagerduty-routing-key-0123456789",
    "smtpPassword": "fake-smtp-password",
    "heartbeatUrl": "https://hc-ping.example.com/fake-heartbeat-check",
}
FAKE_AUTH = "admin:fake-admin-password"
# Which component serves each Grafana datasource type.
SERVED_BY = {
    "prometheus": cv.Component.PROMETHEUS,
    "loki": cv.Component.LOKI,
    "tempo": cv.Component.TEMPO,
    "alertmanager": cv.Component.ALERTMANAGER,
}


def _spec(stack: str, overrides: Mapping[str, Any], secrets: tuple[str, ...] = ()) -> PlatformSpec:
    """A shipped stack with some config keys replaced, validated like the real thing."""
    base = from_stack_file(stack, ROOT)
    keys = {f"mlops:{k}" for k in secrets}
    values = {**base.values, **{f"mlops:{k}": v for k, v in overrides.items()}}
    values.update(dict.fromkeys(keys))
    return load_spec(StackConfig(stack, values, base.secret_keys | keys))


def _cloud_spec(**overrides: Any) -> PlatformSpec:
    grafana = {"url": "https://mlops.grafana.net", "cloud": True, "authTokenSecret": "cloudToken"}
    return _spec("prod", {"grafana": grafana, **overrides}, ("cloudToken",))


def _discard_branch_spec() -> PlatformSpec:
    """A discard receiver below the root, with a child that names a real receiver again."""
    return _spec(
        "staging",
        {
            "alertmanager": {
                "receivers": [
                    {
                        "name": "team",
                        "kind": "slack",
                        "urlSecret": "slackWebhookUrl",
                        "channel": "#t",
                    },
                    {"name": "quiet", "kind": "discard"},
                ],
                "route": {
                    "receiver": "team",
                    "routes": [
                        {
                            "receiver": "quiet",
                            "matchers": ['alertname=~"Watchdog|InfoInhibitor"'],
                            "routes": [
                                {"receiver": "team", "matchers": ['severity="critical"']},
                                {"matchers": ['severity="info"'], "continue": True},
                            ],
                        }
                    ],
                },
            }
        },
    )


@cache
def _dashboards(stack: str) -> dict[str, str]:
    spec = stack_spec(stack)
    return {uid: dashboards.to_json(board) for uid, board in dashboards.build_all(spec).items()}


@dataclass(frozen=True)
class Deployed:
    spec: PlatformSpec
    endpoints: ep.Endpoints
    mocks: Mocks
    folder_uids: dict[str, str]
    datasource_uids: dict[str, str]

    def of_type(self, typ: str) -> list[Registered]:
        return self.mocks.of_type(typ)

    def one(self, typ: str) -> Registered:
        (found,) = self.of_type(typ)
        return found


def _deploy(spec: PlatformSpec, boards: Mapping[str, str]) -> Deployed:
    endpoints = ep.for_spec(spec)
    made: dict[str, GrafanaContent] = {}

    def body() -> None:
        provider = grafana_provider("grafana", spec, pulumi.Output.secret(FAKE_AUTH))
        secrets = {key: pulumi.Output.secret(value) for key, value in FAKE_SECRETS.items()}
        made["content"] = GrafanaContent(
            "grafana",
            GrafanaContentArgs(spec, endpoints, boards, secrets),
            pulumi.ResourceOptions(providers=[provider]),
        )

    mocks = run_mocked(body)
    content = made["content"]
    return Deployed(
        spec,
        endpoints,
        mocks,
        {k: resolve(v)[0] for k, v in content.folder_uids.items()},
        {k: resolve(v)[0] for k, v in content.datasource_uids.items()},
    )


@cache
def _deployed(stack: str) -> Deployed:
    return _deploy(stack_spec(stack), _dashboards(stack))


@cache
def _deployed_cloud() -> Deployed:
    return _deploy(_cloud_spec(), _dashboards("prod"))


def _datasources(deployed: Deployed) -> dict[str, Registered]:
    return {r.inputs["type"]: r for r in deployed.of_type(DATASOURCE)}


def _json_data(deployed: Deployed, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_datasources(deployed)[kind].inputs["jsonDataEncoded"])
    return data


def _datasource_refs(node: Any) -> Iterator[dict[str, Any]]:
    """Every `datasource` object in a dashboard model: panels, targets, variables, annotations."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield value
            yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


def _as_alertmanager_route(policy: Mapping[str, Any], root: bool = True) -> dict[str, Any]:
    """A Grafana policy tree written back the way alertmanager.yml writes a route."""
    out: dict[str, Any] = {}
    if "contact_point" in policy:
        out["receiver"] = policy["contact_point"]
    if policy.get("matchers"):
        out["matchers"] = [
            f"{m['label']}{m['match']}{json.dumps(m['value'])}" for m in policy["matchers"]
        ]
    if "group_bies" in policy and (policy["group_bies"] or not root):
        out["group_by"] = policy["group_bies"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in policy:
            out[key] = policy[key]
    if policy.get("continue_"):
        out["continue"] = True
    if policy.get("policies"):
        out["routes"] = [_as_alertmanager_route(p, root=False) for p in policy["policies"]]
    return out


def _alertmanager_route(spec: Any) -> dict[str, Any]:
    """The rendered route tree without its Watchdog and rollback routes: both take Prometheus
    alerts by name, routed by Alertmanager only; Grafana's own alerts never carry those names
    (so Grafana has no rollback contact point)."""
    route = yaml.safe_load(alertmanager_config(spec))["route"]
    route["routes"] = [r for r in route["routes"] if r["receiver"] != cv.ROLLBACK_RECEIVER]
    first = route["routes"][0]
    assert first["matchers"] == [f'alertname="{cv.Alert.WATCHDOG.value}"'], first
    route["routes"] = route["routes"][1:]
    if not route["routes"]:
        del route["routes"]
    return dict(route)


def _wire(value: Any) -> Any:
    """Provider argument names as the engine records them (`continue_` -> `continue`)."""
    if isinstance(value, dict):
        return {
            ("continue" if k == "continue_" else to_camel(k)): _wire(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _log_line(level: int, message: str) -> tuple[str, str]:
    """A log line exactly as the serving API writes it inside a request span, and its trace id."""
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        record = logging.LogRecord("service.app", level, __file__, 1, message, (), None)
        line = JsonFormatter().format(record)
        return line, format(span.get_span_context().trace_id, "032x")


# Datasources


def test_every_datasource_url_is_the_url_of_the_component_that_serves_it(stack: str) -> None:
    deployed = _deployed(stack)
    for kind, datasource in _datasources(deployed).items():
        assert datasource.inputs["url"] == deployed.endpoints[SERVED_BY[kind]].url()


def test_every_datasource_has_its_conventional_uid_and_the_component_reports_them(
    stack: str,
) -> None:
    deployed = _deployed(stack)
    declared = {kind: ds.inputs["uid"] for kind, ds in _datasources(deployed).items()}
    assert declared == cv.DATASOURCE_UID
    assert deployed.datasource_uids == cv.DATASOURCE_UID
    assert deployed.folder_uids == cv.FOLDER_UID


def test_every_datasource_a_dashboard_references_is_declared_with_that_type(stack: str) -> None:
    deployed = _deployed(stack)
    declared = {ds.inputs["uid"]: kind for kind, ds in _datasources(deployed).items()}
    boards = deployed.of_type(DASHBOARD)
    assert boards
    for board in boards:
        refs = list(_datasource_refs(json.loads(board.inputs["configJson"])))
        assert refs
        for ref in refs:
            assert ref["uid"] in declared, f"{board.name} references {ref}"
            assert declared[ref["uid"]] == ref["type"], f"{board.name} references {ref}"


def test_every_dashboard_is_filed_in_a_declared_folder_and_overwrites_its_old_version(
    stack: str,
) -> None:
    deployed = _deployed(stack)
    folders = {r.inputs["uid"] for r in deployed.of_type(FOLDER)}
    uploaded = {}
    for board in deployed.of_type(DASHBOARD):
        uid = json.loads(board.inputs["configJson"])["uid"]
        uploaded[uid] = board.inputs["folder"]
        assert board.inputs["folder"] in folders
        assert board.inputs["overwrite"] is True
    assert uploaded == dict(dashboards.FOLDERS)


def test_prometheus_exemplars_open_their_trace_in_tempo() -> None:
    deployed = _deployed("prod")
    data = _json_data(deployed, "prometheus")
    tempo_uid = _datasources(deployed)["tempo"].inputs["uid"]
    assert data["exemplarTraceIdDestinations"] == [
        {"datasourceUid": tempo_uid, "name": EXEMPLAR_TRACE_ID_LABEL}
    ]
    assert data["httpMethod"] == "POST"
    assert data["timeInterval"] == deployed.spec.prometheus.scrape_interval


def test_a_serving_log_line_opens_its_trace_in_tempo_through_lokis_derived_field() -> None:
    deployed = _deployed("prod")
    (field,) = _json_data(deployed, "loki")["derivedFields"]
    assert field["datasourceUid"] == _datasources(deployed)["tempo"].inputs["uid"]
    assert field["url"] == "${__value.raw}"
    line, trace_id = _log_line(logging.ERROR, "model load failed")
    found = re.search(field["matcherRegex"], line)
    assert found is not None, line
    assert found.group(1) == trace_id
    outside_span = JsonFormatter().format(
        logging.LogRecord("service.app", logging.INFO, __file__, 1, "started", (), None)
    )
    assert re.search(field["matcherRegex"], outside_span) is None


def test_a_trace_opens_its_logs_in_loki_and_its_service_map_from_prometheus() -> None:
    deployed = _deployed("prod")
    data = _json_data(deployed, "tempo")
    uids = {kind: ds.inputs["uid"] for kind, ds in _datasources(deployed).items()}
    to_logs = data["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == uids["loki"]
    assert to_logs["filterByTraceID"] is True
    # The span's service.name becomes the stream selector the logs dashboard reads.
    assert {"key": "service.name", "value": "service_name"} in to_logs["tags"]
    assert 'service_name="' in logs_traces.STREAM
    assert data["serviceMap"] == {"datasourceUid": uids["prometheus"]}
    assert data["nodeGraph"] == {"enabled": True}
    assert data["lokiSearch"] == {"datasourceUid": uids["loki"]}


def test_grafana_reads_the_stacks_alertmanager_but_keeps_its_own_alerts() -> None:
    data = _json_data(_deployed("prod"), "alertmanager")
    assert data == {"implementation": "prometheus", "handleGrafanaManagedAlerts": False}


# Routing


@pytest.mark.parametrize("stack", STACKS)
def test_the_notification_policy_tree_is_the_alertmanager_route_tree(stack: str) -> None:
    spec = stack_spec(stack)
    tree = notification_policy_tree(spec)
    assert _as_alertmanager_route(tree) == _alertmanager_route(spec)
    assert not any("mute_timings" in p for p in walk_policies(tree))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_grafana_is_given_exactly_the_policy_tree(stack: str) -> None:
    deployed = _deployed(stack)
    recorded = dict(deployed.one(POLICY).inputs)
    assert recorded == _wire(notification_policy_tree(deployed.spec))


def test_prod_pages_the_on_call_and_still_tells_the_team_in_slack() -> None:
    tree = notification_policy_tree(stack_spec("prod"))
    page, slack, email = tree["policies"]
    assert page["contact_point"] == "ml-oncall"
    assert page["matchers"] == [{"label": "severity", "match": "=~", "value": "critical|page"}]
    assert page["continue_"] is True
    assert slack["contact_point"] == "ml-team-slack"
    assert slack["continue_"] is False
    assert email["matchers"] == [{"label": "severity", "match": "=", "value": "info"}]
    assert tree["group_bies"] == ["alertname", "model", "sloth_slo"]


def test_every_receiver_is_a_contact_point_of_the_same_name(stack: str) -> None:
    deployed = _deployed(stack)
    names = {r.inputs["name"] for r in deployed.of_type(CONTACT_POINT)}
    assert names == {r.name for r in deployed.spec.alertmanager.receivers}
    referenced = {
        p["contact_point"]
        for p in walk_policies(notification_policy_tree(deployed.spec))
        if "contact_point" in p
    }
    assert referenced <= names


def test_each_receiver_kind_becomes_its_grafana_integration() -> None:
    def mapped(name: str, stack: str = "prod") -> dict[str, Any]:
        (receiver,) = [r for r in stack_spec(stack).alertmanager.receivers if r.name == name]
        return contact_point_integrations(receiver, FAKE_SECRETS, "http://alertmanager:9093")

    assert mapped("ml-oncall") == {
        "pagerduties": [
            {
                "integration_key": FAKE_SECRETS["pagerdutyRoutingKey"],
                "disable_resolve_message": False,
            }
        ]
    }
    (slack,) = mapped("ml-team-slack")["slacks"]
    assert slack["url"] == FAKE_SECRETS["slackWebhookUrl"]
    assert slack["recipient"] == "#ml-alerts"
    (email,) = mapped("ml-team-email")["emails"]
    assert email["addresses"] == ["ml-team@example.com"]
    (hook,) = mapped("incident-webhook", "staging")["webhooks"]
    assert hook["url"] == FAKE_SECRETS["incidentWebhookUrl"]
    assert hook["max_alerts"] == 0


def test_a_receiver_whose_secret_was_not_passed_is_refused_by_name() -> None:
    (slack, *_) = stack_spec("staging").alertmanager.receivers
    with pytest.raises(ValueError, match=r"receiver ml-team-slack: .*'slackWebhookUrl'"):
        contact_point_integrations(slack, {}, "http://alertmanager:9093")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_receiver_secrets_reach_grafana_only_as_secrets(stack: str) -> None:
    deployed = _deployed(stack)
    needed = {
        key
        for r in deployed.spec.alertmanager.receivers
        for key in (getattr(r, "url_secret", None), getattr(r, "routing_key_secret", None))
        if key
    }
    assert needed
    found: dict[str, set[bool]] = {}
    for resource in deployed.mocks.resources:
        for text, secret in strings(dict(resource.raw)):
            for key, value in FAKE_SECRETS.items():
                if value in text:
                    found.setdefault(key, set()).add(secret)
                    assert secret, f"{key} in plain text in {resource.name}"
    assert set(found) == needed


def test_the_provider_gets_the_stacks_url_and_its_credentials_as_a_secret(stack: str) -> None:
    deployed = _deployed(stack)
    provider = deployed.one(PROVIDER)
    assert provider.inputs["url"] == str(deployed.spec.grafana.url).rstrip("/")
    assert is_secret_value(provider.raw["auth"])
    assert provider.inputs["auth"] == FAKE_AUTH


def test_every_grafana_resource_is_a_named_child_that_uses_the_provider(stack: str) -> None:
    deployed = _deployed(stack)
    children = [r for r in deployed.mocks.resources if r.typ.startswith("grafana:")]
    assert children
    for child in children:
        assert child.name.startswith("grafana-"), child.name
        assert child.provider is not None
        assert f"{PROVIDER}::grafana::" in child.provider


def test_a_discard_receiver_notifies_nobody() -> None:
    spec = _discard_branch_spec()
    tree = notification_policy_tree(spec)
    mute = [discard_mute_timing(spec)]
    (quiet,) = tree["policies"]
    team, inherited = quiet["policies"]
    assert quiet["mute_timings"] == mute
    assert inherited["mute_timings"] == mute  # inherits the discard receiver
    assert "mute_timings" not in team
    assert "mute_timings" not in tree  # the root cannot be muted; it names a real receiver
    assert _as_alertmanager_route(tree) == _alertmanager_route(spec)

    deployed = _deploy(spec, _dashboards("staging"))
    (timing,) = deployed.of_type(MUTE_TIMING)
    assert timing.inputs == {"name": mute[0], "intervals": [{}]}  # an empty interval: always


def test_a_discard_root_hands_grafanas_alerts_to_the_stacks_alertmanager() -> None:
    deployed = _deployed("dev")
    (contact_point,) = deployed.of_type(CONTACT_POINT)
    assert contact_point.inputs["name"] == deployed.spec.alertmanager.route.receiver
    assert contact_point.inputs["alertmanagers"] == [
        {"url": deployed.endpoints[cv.Component.ALERTMANAGER].url()}
    ]
    assert deployed.of_type(MUTE_TIMING) == []


def test_matchers_keep_their_operator_and_unescaped_value() -> None:
    assert parse_matcher('job!~"serving|mlflow"') == {
        "label": "job",
        "match": "!~",
        "value": "serving|mlflow",
    }
    assert parse_matcher('summary="say \\"hi\\""')["value"] == 'say "hi"'
    with pytest.raises(ValueError, match="not an Alertmanager matcher"):
        parse_matcher("severity=critical")


def test_a_route_deeper_than_grafana_accepts_is_refused() -> None:
    route: dict[str, Any] = {"receiver": "default", "matchers": ['severity="info"']}
    for _ in range(MAX_POLICY_DEPTH):
        route = {"matchers": ['severity="info"'], "routes": [route]}
    spec = _spec(
        "dev",
        {
            "alertmanager": {
                "receivers": [{"name": "default", "kind": "discard"}],
                "route": {"receiver": "default", "routes": [route]},
            }
        },
    )
    with pytest.raises(ValueError, match=f"deeper than the {MAX_POLICY_DEPTH} levels"):
        notification_policy_tree(spec)


# Log alerts


def test_the_serving_error_log_alert_is_a_complete_grafana_rule(stack: str) -> None:
    deployed = _deployed(stack)
    spec = deployed.spec
    group = deployed.one(RULE_GROUP)
    assert group.inputs["folderUid"] == cv.FOLDER_UID["platform"]
    assert group.inputs["intervalSeconds"] > 0
    (rule,) = group.inputs["rules"]
    assert rule["name"] == SERVING_ERROR_LOG_SPIKE
    assert rule["labels"] == {cv.SEVERITY_LABEL: cv.Severity.WARNING.value}
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    assert rule["annotations"]["runbook_url"] == spec.runbook_url(SERVING_ERROR_LOG_SPIKE)
    assert rule["condition"] == "C"
    query, reduce, threshold = rule["datas"]
    assert query["refId"] == "A"
    assert query["datasourceUid"] == cv.DATASOURCE_UID["loki"]
    assert query["relativeTimeRange"]["from"] > query["relativeTimeRange"]["to"] == 0
    assert json.loads(query["model"])["expr"] == error_log_query()
    assert json.loads(query["model"])["refId"] == "A"
    for data, ref_id, kind, source in (
        (reduce, "B", "reduce", "A"),
        (threshold, "C", "threshold", "B"),
    ):
        model = json.loads(data["model"])
        assert data["refId"] == model["refId"] == ref_id
        assert data["datasourceUid"] == model["datasource"]["uid"] == "__expr__"
        assert (model["type"], model["expression"]) == (kind, source)
    (condition,) = json.loads(threshold["model"])["conditions"]
    assert condition["evaluator"]["type"] == "gt"
    assert condition["evaluator"]["params"][0] > 0


def test_the_error_log_query_counts_error_lines_of_the_serving_stream() -> None:
    query = error_log_query("5m")
    shape = re.fullmatch(
        r"sum\(count_over_time\((?P<selector>\{[^{}]*\})(?P<pipeline>(?:\s*\|[^|\[]+)+)"
        r"\s*\[(?P<range>\d+[smh])\]\)\)",
        query,
    )
    assert shape is not None, query
    assert shape["selector"] == logs_traces.STREAM
    stages = [s.strip() for s in shape["pipeline"].split(" | ") if s.strip(" |")]
    assert stages[0] == "json"
    assert f'level=~"{logs_traces.ERROR_LEVELS}"' in stages
    assert shape["range"] == "5m"
    assert query.count("(") == query.count(")")
    # The levels it counts are the ones the service writes for errors, and only those.
    levels = re.compile(logs_traces.ERROR_LEVELS)
    for level, counted in (
        (logging.ERROR, True),
        (logging.CRITICAL, True),
        (logging.WARNING, False),
    ):
        written = json.loads(_log_line(level, "x")[0])["level"]
        assert bool(levels.fullmatch(written)) is counted, written


def test_log_alert_names_follow_the_alert_conventions() -> None:
    assert SERVING_ERROR_LOG_SPIKE in LOG_ALERTS
    for name in LOG_ALERTS:
        assert cv.ALERT_NAME_RE.match(name)
        assert name.startswith("Serving")


# SLOs


def test_no_slo_resource_unless_the_stack_uses_grafana_cloud(stack: str) -> None:
    assert not stack_spec(stack).grafana.cloud
    assert _deployed(stack).of_type(SLO_TYPE) == []


def test_a_grafana_cloud_stack_gets_one_slo_per_spec_slo_with_page_and_ticket_alerts() -> None:
    deployed = _deployed_cloud()
    spec = deployed.spec
    recorded = {r.inputs["name"]: r.inputs for r in deployed.of_type(SLO_TYPE)}
    assert set(recorded) == {slo.name for slo in spec.slos}
    for slo in spec.slos:
        inputs = recorded[slo.name]
        assert inputs["folderUid"] == cv.FOLDER_UID["slo"]
        objective = float(Decimal(str(slo.objective)) / 100)
        assert inputs["objectives"] == [{"value": objective, "window": slo.period}]
        (query,) = inputs["queries"]
        assert query["type"] == "freeform"
        assert "$__rate_interval" in query["freeform"]["query"]
        page, ticket = slo.runbook_names  # their own, or the SLO's shared pair
        for burn, runbook, severity in (("fastburn", page, "page"), ("slowburn", ticket, "ticket")):
            alert = inputs["alerting"][burn]
            labels = {p["key"]: p["value"] for p in alert["labels"]}
            annotations = {p["key"]: p["value"] for p in alert["annotations"]}
            assert labels[cv.SEVERITY_LABEL] == severity
            assert annotations["runbook_url"] == spec.runbook_url(runbook)
            assert annotations["summary"]
            assert annotations["description"]


def test_a_grafana_cloud_stack_gets_an_accuracy_slo_per_served_model() -> None:
    deployed = _deployed_cloud()
    recorded = {r.inputs["name"]: r.inputs for r in deployed.of_type(SLO_TYPE)}
    for model in deployed.spec.serving.models:
        inputs = recorded[f"{model.name}-accuracy"]
        assert inputs["objectives"] == [{"value": 0.8, "window": "30d"}]
        query = inputs["queries"][0]["freeform"]["query"]
        assert (
            f'mlops_labelled_predictions_total{{job="serving",model="{model.name}",correct="false"}}'
            in query
        )
        assert "[$__rate_interval])) * 3600 >= 50)" in query  # the label guard, as a rate
        labels = {p["key"]: p["value"] for p in inputs["labels"]}
        assert labels["model"] == model.name
        assert set(inputs["alerting"]) >= {"fastburn", "slowburn"}


def test_an_slo_ticket_alert_disabled_by_override_is_left_out() -> None:
    slo = _cloud_spec().slos[0]
    quiet = _cloud_spec(alertOverrides={slo.alert_names[1]: {"disabled": True}})
    args = slo_resource_args(quiet, slo)
    assert "fastburn" in args["alerting"]
    assert "slowburn" not in args["alerting"]


# Known problem, reported: Grafana keeps folders and dashboards in one uid space
# per organization, so a dashboard cannot take a folder's uid.


def test_no_dashboard_takes_the_uid_of_a_folder() -> None:
    assert not set(dashboards.FOLDERS) & set(cv.FOLDER_UID.values())
