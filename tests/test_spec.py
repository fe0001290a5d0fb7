"""The spec: shipped stacks load, every field is documented, bad config is refused clearly."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from infra import conventions as cv
from infra.config import ROOT, SpecError, StackConfig, from_stack_file, load_spec
from infra.spec import Image, PlatformSpec, Resources
from infra.units import duration_seconds
from stacks import profile
from tests.conftest import STACKS, stack_spec


def _models(
    model: type[BaseModel], seen: set[type[BaseModel]] | None = None
) -> set[type[BaseModel]]:
    seen = seen if seen is not None else set()
    if model in seen:
        return seen
    seen.add(model)

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _models(annotation, seen)
        for arg in get_args(annotation):
            visit(arg)

    for field in model.model_fields.values():
        visit(field.annotation)
    return seen


def test_every_field_of_every_spec_model_has_a_description() -> None:
    missing = [
        f"{model.__name__}.{name}"
        for model in _models(PlatformSpec)
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert len(_models(PlatformSpec)) > 20
    assert missing == []


def test_every_spec_model_is_frozen_and_forbids_unknown_keys() -> None:
    for model in _models(PlatformSpec):
        assert model.model_config.get("frozen") is True, model.__name__
        assert model.model_config.get("extra") == "forbid", model.__name__


@pytest.mark.parametrize("name", STACKS)
def test_each_shipped_stack_loads_into_a_spec_of_its_environment(name: str) -> None:
    spec = stack_spec(name)
    assert spec.environment == name
    assert spec.target == ("docker" if name == "dev" else "kubernetes")
    assert {s.name for s in spec.slos} >= {"serving-availability", "serving-latency"}


def test_staging_and_prod_run_alertmanager_as_a_cluster_and_keep_data_longer_than_dev() -> None:
    dev, staging, prod = (stack_spec(s) for s in STACKS)
    assert dev.alertmanager.replicas == 1
    assert staging.alertmanager.replicas >= 2
    assert prod.alertmanager.replicas >= 3
    assert duration_seconds(dev.prometheus.retention_time) < duration_seconds(
        staging.prometheus.retention_time
    )
    assert duration_seconds(staging.prometheus.retention_time) <= duration_seconds(
        prod.prometheus.retention_time
    )


def test_a_spec_cannot_be_changed_after_it_is_built() -> None:
    spec = stack_spec("dev")
    with pytest.raises(ValidationError, match="frozen"):
        spec.prometheus.retention_time = "1d"  # type: ignore[misc]


def test_stack_config_overrides_the_profile_key_by_key() -> None:
    spec = load_spec(
        StackConfig(
            "t",
            {
                "mlops:environment": "dev",
                "mlops:prometheus": '{"retentionTime": "5d"}',  # as the engine passes objects: JSON
            },
        )
    )
    assert spec.prometheus.retention_time == "5d"
    assert spec.prometheus.storage_size == profile("dev")["prometheus"]["storageSize"]


def test_secret_references_accept_keys_set_as_secrets() -> None:
    spec = load_spec(
        StackConfig(
            "t",
            {
                "mlops:environment": "dev",
                "mlops:alertmanager": {
                    "receivers": [
                        {"name": "pager", "kind": "pagerduty", "routingKeySecret": "pdKey"}
                    ],
                    "route": {"receiver": "pager"},
                },
                "mlops:pdKey": "not-shown",
            },
            frozenset({"mlops:pdKey"}),
        ),
        require_secrets=True,
    )
    assert spec.alertmanager.receivers[0].name == "pager"


def test_shipped_stacks_need_their_receiver_secrets_set_before_pulumi_runs() -> None:
    with pytest.raises(
        SpecError,
        match=r"mlops:pagerdutyRoutingKey is not set; set it with `pulumi config set --secret",
    ):
        load_spec(from_stack_file("prod", ROOT), require_secrets=True)


def _dev(**overrides: Any) -> dict[str, Any]:
    return {"mlops:environment": "dev", **{f"mlops:{k}": v for k, v in overrides.items()}}


def _am(
    receivers: list[dict[str, Any]], route: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"receivers": receivers, "route": route or {"receiver": receivers[0]["name"]}, **extra}


def _slo(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "x-availability",
        "description": "d",
        "objective": 99.5,
        "sli": {"latency": {"thresholdSeconds": 0.5}},
    }
    return base | changes


# (sentence id, config values, secret keys, pattern the message must match)
INVALID: list[tuple[str, dict[str, Any], set[str], str]] = [
    (
        "environment missing",
        {},
        set(),
        r"mlops:environment: missing; set it to one of dev, staging, prod",
    ),
    (
        "environment unknown",
        {"mlops:environment": "qa"},
        set(),
        r"mlops:environment: 'qa'; set it to one of dev",
    ),
    (
        "unknown top-level key",
        _dev(prometeus={"x": 1}),
        set(),
        r"mlops:prometeus: not a setting.*allowed settings: .*prometheus",
    ),
    (
        "unknown nested key",
        _dev(prometheus={"retention": "1d"}),
        set(),
        r"mlops:prometheus.retention: unknown key; allowed here: .*retentionTime",
    ),
    (
        "target not docker or kubernetes",
        _dev(target="nomad"),
        set(),
        r"mlops:target: Input should be 'docker' or 'kubernetes'",
    ),
    (
        "negative retention",
        _dev(prometheus={"retentionTime": "-15d"}),
        set(),
        r"mlops:prometheus.retentionTime: .*positive Prometheus duration",
    ),
    (
        "zero retention",
        _dev(prometheus={"retentionTime": "0d"}),
        set(),
        r"mlops:prometheus.retentionTime: '0d' must be longer than zero",
    ),
    (
        "retention as a number",
        _dev(prometheus={"retentionTime": 15}),
        set(),
        r"mlops:prometheus.retentionTime: Input should be a valid string",
    ),
    (
        "scrape timeout above interval",
        _dev(prometheus={"scrapeInterval": "10s", "scrapeTimeout": "30s"}),
        set(),
        r"mlops:prometheus: scrapeTimeout 30s is longer than scrapeInterval 10s",
    ),
    (
        "retention size in Kubernetes units",
        _dev(prometheus={"retentionSize": "50Gi"}),
        set(),
        r"mlops:prometheus.retentionSize: String should match pattern",
    ),
    (
        "replicas as text",
        _dev(alertmanager={"replicas": "three"}),
        set(),
        r"mlops:alertmanager.replicas: Input should be a valid integer",
    ),
    (
        "replicas zero",
        _dev(alertmanager={"replicas": 0}),
        set(),
        r"mlops:alertmanager.replicas: Input should be greater than or equal to 1",
    ),
    (
        "image tag latest",
        _dev(images={"prometheus": {"repository": "prom/prometheus", "tag": "latest"}}),
        set(),
        r"mlops:images.prometheus.tag: `latest` is not a pinned tag",
    ),
    (
        "image tag empty",
        _dev(images={"loki": {"repository": "grafana/loki", "tag": ""}}),
        set(),
        r"mlops:images.loki.tag: must be a pinned version tag such as v3.5.0",
    ),
    (
        "image without repository",
        _dev(images={"extra": {"tag": "1.0"}}),
        set(),
        r"mlops:images.extra: unknown key; allowed here: alertmanager, cadvisor, dcgmExporter, "
        r"grafana, kubeStateMetrics, loki",
    ),
    (
        "saturation collector switched on with a word",
        _dev(saturation={"nodeExporter": {"enabled": "sometimes"}}),
        set(),
        r"mlops:saturation.nodeExporter.enabled: Input should be a valid boolean",
    ),
    (
        "saturation collector misspelt",
        _dev(saturation={"nodeExporters": {"enabled": True}}),
        set(),
        r"mlops:saturation.nodeExporters: unknown key; allowed here: cadvisor, dcgmExporter, "
        r"hostNamespace, kubeStateMetrics, kubelet, nodeExporter",
    ),
    (
        "host collectors' namespace not a name",
        _dev(saturation={"hostNamespace": "Host_Metrics"}),
        set(),
        r"mlops:saturation.hostNamespace: must be 2 to 40 lowercase letters",
    ),
    (
        "negative GPUs",
        _dev(
            serving={
                "models": [
                    {
                        "name": "m",
                        "gpus": -1,
                        "resources": {
                            "cpuRequest": "1",
                            "memoryRequest": "1Gi",
                            "memoryLimit": "1Gi",
                        },
                    }
                ]
            }
        ),
        set(),
        r"mlops:serving.models\[0\].gpus: Input should be greater than or equal to 0",
    ),
    (
        "container memory ratio above the limit",
        _dev(alerts={"containerMemoryRatio": 1.5}),
        set(),
        r"mlops:alerts.containerMemoryRatio: Input should be less than 1",
    ),
    (
        "image digest malformed",
        _dev(
            images={"tempo": {"repository": "grafana/tempo", "tag": "2.8.1", "digest": "md5:abc"}}
        ),
        set(),
        r"mlops:images.tempo.digest: String should match pattern",
    ),
    (
        "memory request above limit",
        _dev(
            pushgateway={
                "resources": {"cpuRequest": "50m", "memoryRequest": "1Gi", "memoryLimit": "128Mi"}
            }
        ),
        set(),
        r"mlops:pushgateway.resources: memoryRequest 1Gi exceeds memoryLimit 128Mi",
    ),
    (
        "quantity not a quantity",
        _dev(pushgateway={"storageSize": "lots"}),
        set(),
        r"mlops:pushgateway.storageSize: 'lots' is not a Kubernetes quantity",
    ),
    (
        "no served model",
        _dev(serving={"models": []}),
        set(),
        r"mlops:serving.models: Tuple should have at least 1 item",
    ),
    (
        "served model names repeat",
        _dev(
            serving={
                "models": [
                    {
                        "name": "m1",
                        "resources": {
                            "cpuRequest": "1",
                            "memoryRequest": "1Gi",
                            "memoryLimit": "1Gi",
                        },
                    }
                ]
                * 2
            }
        ),
        set(),
        r"mlops:serving.models: model names must be unique; repeated: m1",
    ),
    (
        "served model name with capitals",
        _dev(
            serving={
                "models": [
                    {
                        "name": "Iris",
                        "resources": {
                            "cpuRequest": "1",
                            "memoryRequest": "1Gi",
                            "memoryLimit": "1Gi",
                        },
                    }
                ]
            }
        ),
        set(),
        r"mlops:serving.models\[0\].name: must be 2 to 40 lowercase letters",
    ),
    (
        "SLO objective of 100",
        _dev(slos=[_slo(objective=100)]),
        set(),
        r"mlops:slos\[0\].objective: Input should be less than 100",
    ),
    (
        "SLO objective of 0",
        _dev(slos=[_slo(objective=0)]),
        set(),
        r"mlops:slos\[0\].objective: Input should be greater than 0",
    ),
    (
        "SLO objective as a fraction string",
        _dev(slos=[_slo(objective="99.9%")]),
        set(),
        r"mlops:slos\[0\].objective: Input should be a valid number",
    ),
    (
        "duplicate SLO names",
        _dev(slos=[_slo(), _slo()]),
        set(),
        r"mlops:slos: SLO names must be unique; repeated: x-availability",
    ),
    (
        "SLO period without windows",
        _dev(slos=[_slo(period="7d")]),
        set(),
        r"mlops:slos\[0\].period: Input should be '30d' or '28d'",
    ),
    (
        "SLO with both SLI kinds",
        _dev(
            slos=[
                _slo(
                    sli={
                        "latency": {"thresholdSeconds": 0.5},
                        "events": {"errorQuery": "x[{{.window}}]", "totalQuery": "y[{{.window}}]"},
                    }
                )
            ]
        ),
        set(),
        r"mlops:slos\[0\].sli: give exactly one of events or latency",
    ),
    (
        "SLO query without window placeholder",
        _dev(
            slos=[
                _slo(
                    sli={
                        "events": {
                            "errorQuery": "sum(rate(x[5m]))",
                            "totalQuery": "sum(rate(y[{{.window}}]))",
                        }
                    }
                )
            ]
        ),
        set(),
        r"mlops:slos\[0\].sli.events.errorQuery: must use \{\{.window\}\}",
    ),
    (
        "SLO query that is not PromQL",
        _dev(
            slos=[
                _slo(
                    sli={
                        "events": {
                            "errorQuery": "sum(rate(x[{{.window}}])",
                            "totalQuery": "sum(rate(y[{{.window}}]))",
                        }
                    }
                )
            ]
        ),
        set(),
        r"mlops:slos\[0\].sli.events.errorQuery: is not valid PromQL",
    ),
    (
        "latency threshold between buckets",
        _dev(slos=[_slo(sli={"latency": {"thresholdSeconds": 0.3}})]),
        set(),
        r"thresholdSeconds 0.3 is not a bucket bound of bentoml_service_request_duration_seconds.*use one of 0.005, 0.01",
    ),
    (
        "latency SLI on a metric outside the catalog",
        _dev(slos=[_slo(sli={"latency": {"metric": "http_seconds", "thresholdSeconds": 0.5}})]),
        set(),
        r"metric 'http_seconds' is not a catalog histogram",
    ),
    (
        "receiver without URL",
        _dev(alertmanager=_am([{"name": "hook", "kind": "webhook"}])),
        set(),
        r"mlops:alertmanager.receivers\[0\].urlSecret: required, but not set",
    ),
    (
        "receiver of unknown kind",
        _dev(alertmanager=_am([{"name": "sms", "kind": "sms"}])),
        set(),
        r"mlops:alertmanager.receivers\[0\]: Input tag 'sms' found using 'kind' does not match any of the expected tags: 'discard', 'webhook', 'slack', 'email', 'pagerduty'",
    ),
    (
        "plaintext webhook URL in the receiver",
        _dev(
            alertmanager=_am(
                [{"name": "hook", "kind": "webhook", "url": "https://hooks.example.com/T0/B0/XXXX"}]
            )
        ),
        set(),
        r"`url` would hold a secret in plain text.*name that key in `urlSecret`",
    ),
    (
        "plaintext PagerDuty key in the receiver",
        _dev(
            alertmanager=_am([{"name": "pager", "kind": "pagerduty", "routingKey": "R0UT1NGKEY"}])
        ),
        set(),
        r"`routingKey` would hold a secret in plain text",
    ),
    (
        "secret reference to a plaintext config key",
        {
            **_dev(
                alertmanager=_am(
                    [{"name": "slack", "kind": "slack", "urlSecret": "slackUrl", "channel": "#a"}]
                )
            ),
            "mlops:slackUrl": "https://hooks.slack.com/services/T/B/X",
        },
        set(),
        r"urlSecret: config key mlops:slackUrl is set in plain text; store it encrypted with `pulumi config set --secret slackUrl",
    ),
    (
        "route to an unknown receiver",
        _dev(
            alertmanager=_am(
                [{"name": "team", "kind": "discard"}],
                {
                    "receiver": "team",
                    "routes": [{"receiver": "pager", "matchers": ['severity="critical"']}],
                },
            )
        ),
        set(),
        r"route.routes\[0\].receiver: 'pager' is not a declared receiver; declared: team",
    ),
    (
        "root route without receiver",
        _dev(
            alertmanager=_am(
                [{"name": "team", "kind": "discard"}], {"receiver": None, "groupBy": ["alertname"]}
            )
        ),
        set(),
        r"route.receiver: the root route must name a receiver",
    ),
    (
        "duplicate receiver names",
        _dev(
            alertmanager=_am(
                [{"name": "team", "kind": "discard"}, {"name": "team", "kind": "discard"}]
            )
        ),
        set(),
        r"receiver names must be unique; repeated: team",
    ),
    (
        "malformed route matcher",
        _dev(
            alertmanager=_am(
                [{"name": "team", "kind": "discard"}],
                {
                    "receiver": "team",
                    "routes": [{"receiver": "team", "matchers": ["severity: critical"]}],
                },
            )
        ),
        set(),
        r"route.routes\[0\].matchers\[0\]: must be an Alertmanager matcher",
    ),
    (
        "email receiver with a bad address",
        _dev(
            alertmanager=_am(
                [
                    {
                        "name": "mail",
                        "kind": "email",
                        "to": ["not-an-address"],
                        "from": "a@b.io",
                        "smarthost": "smtp:25",
                    }
                ]
            )
        ),
        set(),
        r"receivers\[0\].to\[0\]: String should match pattern",
    ),
    (
        "email auth user without password secret",
        _dev(
            alertmanager=_am(
                [
                    {
                        "name": "mail",
                        "kind": "email",
                        "to": ["x@y.io"],
                        "from": "a@b.io",
                        "smarthost": "smtp:25",
                        "authUsername": "am",
                    }
                ]
            )
        ),
        set(),
        r"authUsername and authPasswordSecret go together",
    ),
    (
        "settings object stored as a secret",
        {**_dev(), "mlops:prometheus": None},
        {"mlops:prometheus"},
        r"mlops:prometheus: holds settings, not a secret value",
    ),
    (
        "override of an unknown alert",
        _dev(alertOverrides={"ServingOnFire": {"disabled": True}}),
        set(),
        r"alertOverrides.ServingOnFire: no such alert; known: .*ServingHighErrorRatio",
    ),
    (
        "override with an SLO severity on a platform alert",
        _dev(alertOverrides={"ServingHighErrorRatio": {"severity": "page"}}),
        set(),
        r"alertOverrides.ServingHighErrorRatio.severity: 'page' is not allowed here; use one of critical, warning, info",
    ),
    (
        "override with a bad for",
        _dev(alertOverrides={"ServingFeatureDrift": {"for": "soon"}}),
        set(),
        r"alertOverrides.ServingFeatureDrift.for: 'soon' is not a duration",
    ),
    (
        "heartbeat to an undeclared receiver",
        _dev(
            alertmanager=_am([{"name": "quiet", "kind": "discard"}], heartbeat={"receiver": "hc"})
        ),
        set(),
        r"mlops:alertmanager: heartbeat.receiver: 'hc' is not a declared receiver; declared: quiet",
    ),
    (
        "a heartbeat more often than Alertmanager's ticks",
        _dev(
            alertmanager=_am(
                [{"name": "hc", "kind": "discard"}], heartbeat={"receiver": "hc", "interval": "2s"}
            ),
        ),
        set(),
        r"mlops:alertmanager.heartbeat.interval: '2s' is shorter than 4s",
    ),
    (
        "a receiver named like the Watchdog's own",
        _dev(alertmanager=_am([{"name": "platform-watchdog-discard", "kind": "discard"}])),
        set(),
        r"receivers: 'platform-watchdog-discard' is reserved for the Watchdog; use another name",
    ),
    (
        "heartbeat with the Watchdog disabled",
        _dev(
            alertmanager=_am([{"name": "hc", "kind": "discard"}], heartbeat={"receiver": "hc"}),
            alertOverrides={"PlatformWatchdog": {"disabled": True}},
        ),
        set(),
        r"alertOverrides.PlatformWatchdog.disabled: the heartbeat receiver 'hc' expects it",
    ),
    (
        "a for on the always-firing Watchdog",
        _dev(alertOverrides={"PlatformWatchdog": {"for": "5m"}}),
        set(),
        r"alertOverrides.PlatformWatchdog: only `disabled` applies to the Watchdog",
    ),
    (
        "runbook pattern without placeholder",
        _dev(runbookUrlPattern="https://runbooks.example.com/"),
        set(),
        r"runbookUrlPattern: must contain \{alert\}",
    ),
    (
        "Loki retention under a day",
        _dev(loki={"retention": "12h"}),
        set(),
        r"mlops:loki.retention: Loki's retention works in whole days",
    ),
    (
        "Grafana Cloud without a token",
        _dev(grafana={"cloud": True, "url": "https://x.grafana.net"}),
        set(),
        r"mlops:grafana: Grafana Cloud needs authTokenSecret",
    ),
    (
        "plaintext Grafana admin password",
        _dev(grafana={"adminPassword": "hunter2"}),
        set(),
        r"`adminPassword` would hold a secret in plain text",
    ),
    (
        "MLflow replicas on sqlite",
        _dev(mlflow={"replicas": 2}),
        set(),
        r"mlops:mlflow: replicas > 1 needs a postgresql backend store and an s3 artifact store",
    ),
    (
        "postgresql store without connection",
        _dev(mlflow={"backendStore": {"kind": "postgresql"}}),
        set(),
        r"mlops:mlflow.backendStore: a postgresql backend store needs host, user, passwordSecret",
    ),
    (
        "remote write with credentials in the URL",
        _dev(
            prometheus={
                "remoteWrite": [{"name": "lts", "url": "https://u:p@lts.example.com/api/v1/write"}]
            }
        ),
        set(),
        r"mlops:prometheus.remoteWrite\[0\]: url must not carry credentials",
    ),
    (
        "the last Alertmanager peer waiting past a group interval",
        _dev(
            alertmanager={
                "replicas": 3,
                "gossip": {"peerTimeout": "15s"},
                "route": {"groupInterval": "20s"},
            }
        ),
        set(),
        r"mlops:alertmanager: .*gossip.peerTimeout: 3 replicas wait up to 30s .*not less than "
        r"route.groupInterval \(20s\)",
    ),
    (
        "Alertmanager gossip slower than a fifth of the peer timeout",
        _dev(alertmanager={"gossip": {"peerTimeout": "1s", "gossipInterval": "500ms"}}),
        set(),
        r"mlops:alertmanager.gossip: .*gossipInterval 500ms must be at most a fifth of peerTimeout",
    ),
    (
        "collector limiter above its container",
        _dev(otelCollector={"memoryLimitMib": 600}),
        set(),
        r"memoryLimitMib 600 must stay below resources.memoryLimit 512Mi",
    ),
    (
        "drift threshold negative",
        _dev(alerts={"driftPsi": -0.1}),
        set(),
        r"mlops:alerts.driftPsi: Input should be greater than 0",
    ),
    (
        "error-ratio threshold above one",
        _dev(alerts={"servingErrorRatio": 5}),
        set(),
        r"mlops:alerts.servingErrorRatio: Input should be less than 1",
    ),
    (
        "S3 access key without its secret key",
        _dev(
            tempo={
                "storage": {
                    "kind": "s3",
                    "bucket": "traces",
                    "endpoint": "s3.example.com",
                    "accessKeyIdSecret": "tempoKeyId",
                }
            }
        ),
        set(),
        r"mlops:tempo.storage: accessKeyIdSecret and secretAccessKeySecret go together",
    ),
    (
        "rendering YAML on the docker target",
        _dev(kubernetes={"namespace": "mlops-dev", "renderYamlTo": "rendered/dev"}),
        set(),
        r"kubernetes.renderYamlTo: only the kubernetes target renders YAML",
    ),
    (
        "rendering YAML with the Grafana content of a Grafana the stack runs",
        {
            "mlops:environment": "staging",
            "mlops:kubernetes": {"namespace": "mlops-staging", "renderYamlTo": "rendered/staging"},
        },
        set(),
        r"kubernetes.renderYamlTo: the Grafana content needs the Grafana this stack runs, which "
        r"rendering does not start; set grafana.content: external",
    ),
    (
        "a kubernetes stack that names no serving image to pull",
        {"mlops:environment": "staging", "mlops:images": {"serving": None}},
        set(),
        r"images.serving: the kubernetes target pulls these from a registry; name them with "
        r"repository and tag, then build and push them \(`make images STACK=<stack> PUSH=1`\)",
    ),
    (
        "rendering YAML outside the project",
        _dev(kubernetes={"namespace": "mlops-dev", "renderYamlTo": "../elsewhere"}),
        set(),
        r"mlops:kubernetes.renderYamlTo: must be a folder inside the project",
    ),
    (
        "an SLO whose page could never fire on the default windows (budget 20%)",
        _dev(slos=[_slo(objective=80)]),
        set(),
        r"mlops:slos\[0\]: windows: the objective 80 of x-availability leaves an error budget of "
        r"0.2, so the page window 1h/5m of profile 30d \(14.4x\) fires only above an error ratio "
        r"of 2.88, which can never be reached .*; set windows: 30d-quality",
    ),
    (
        "an SLO whose windows no profile can make reachable",
        _dev(slos=[_slo(objective=50, windows="30d-quality")]),
        set(),
        r"mlops:slos\[0\]: windows: .* profile 30d-quality \(2.4x\) fires only above an error "
        r"ratio of 1.2, .*; no profile for 30d has one; raise the objective",
    ),
    (
        "an SLO naming a window profile that does not exist",
        _dev(slos=[_slo(windows="30d-fast")]),
        set(),
        r"mlops:slos\[0\]: windows: no profile '30d-fast' for period 30d; use one of 30d, "
        r"30d-quality \(files in infra/slo_windows\)",
    ),
    (
        "an SLO naming the window profile of another period",
        _dev(slos=[_slo(period="28d", windows="30d-quality")]),
        set(),
        r"mlops:slos\[0\]: windows: no profile '30d-quality' for period 28d; use one of 28d",
    ),
    (
        "an SLO taking the name of a served model's accuracy SLO",
        _dev(slos=[_slo(name="iris-classifier-accuracy")]),
        set(),
        r"slos\[0\].name: iris-classifier-accuracy is the accuracy SLO the platform makes for "
        r"served model iris-classifier; rename yours, or set serving.models\[0\].accuracySlo: false",
    ),
    (
        "a served model whose accuracy SLO name would pass 40 characters",
        _dev(
            serving={
                "models": [
                    profile("dev")["serving"]["models"][0]
                    | {"name": "iris-classifier-of-petals-and-sepals"}
                ]
            }
        ),
        set(),
        r"serving.models\[0\].name: its accuracy SLO's name iris-classifier-of-petals-and-sepals-"
        r"accuracy is longer than 40 characters; shorten the model name, or set "
        r"serving.models\[0\].accuracySlo: false",
    ),
    (
        "an accuracy floor so low that no window profile can alert on its SLO",
        _dev(alerts={"minAccuracy": 0.5}),
        set(),
        r"alerts.minAccuracy: an accuracy floor of 0.5 leaves an error budget of 0.5, over what "
        r"any window profile of 30d can alert on .*; raise it, or set serving.accuracySlos: false",
    ),
    (
        "docker bind address not an address",
        _dev(docker={"bindAddress": "localhost:80"}),
        set(),
        r"mlops:docker.bindAddress: String should match pattern",
    ),
    (
        "a rollback without its token",
        _dev(rollback={"enabled": True}),
        set(),
        r"mlops:rollback: .*rollback.tokenSecret: the rollback service refuses unauthenticated",
    ),
    (
        "a rollback on an alert that says nothing about a model version",
        _dev(rollback={"alerts": ["ServingHighErrorRatio"]}),
        set(),
        r"rollback.alerts: 'ServingHighErrorRatio' cannot cause a rollback; allowed: "
        r"IrisClassifierAccuracyErrorBudgetBurnPage, ServingAvailabilityErrorBudgetBurnPage, "
        r"ServingLatencyErrorBudgetBurnPage, "
        r"ServingLowAccuracy, ServingLowEstimatedAccuracy",
    ),
    (
        "a rollback on an alert the overrides disable",
        _dev(
            rollback={"enabled": True, "tokenSecret": "rollbackToken"},
            alertOverrides={"ServingLowEstimatedAccuracy": {"disabled": True}},
        ),
        {"mlops:rollbackToken"},
        r"rollback.alerts: 'ServingLowEstimatedAccuracy' is disabled by "
        r"alertOverrides.ServingLowEstimatedAccuracy",
    ),
    (
        "a receiver named like the rollback's own",
        _dev(alertmanager=_am([{"name": "platform-rollback", "kind": "discard"}])),
        set(),
        r"receivers: 'platform-rollback' is reserved for the rollback; use another name",
    ),
]


@pytest.mark.parametrize(
    ("values", "secrets", "message"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_stack_config_is_refused_with_a_message_naming_the_key(
    values: dict[str, Any], secrets: set[str], message: str
) -> None:
    with pytest.raises(SpecError, match=message) as info:
        load_spec(StackConfig("bad", values, frozenset(secrets)))
    assert str(info.value).startswith("stack 'bad' has invalid config:")


def test_there_are_at_least_thirty_invalid_configurations() -> None:
    assert len(INVALID) >= 30


def test_error_messages_never_echo_a_secret_pasted_into_the_wrong_field() -> None:
    pasted = "https://hooks.slack.com/services/T000/B000/SUPERSECRETVALUE"
    values = _dev(
        alertmanager=_am(
            [{"name": "s", "kind": "slack", "url": pasted, "urlSecret": 7, "channel": "#a"}]
        )
    )
    values["mlops:grafana"] = {"adminUser": {"nested": pasted}}
    with pytest.raises(SpecError) as info:
        load_spec(StackConfig("bad", values))
    assert "SUPERSECRETVALUE" not in str(info.value)
    assert len(info.value.problems) >= 2


def test_every_problem_is_reported_at_once_not_one_per_run() -> None:
    values = _dev(prometheus={"retentionTime": "-1d", "bogus": 1}, alerts={"driftPsi": -1})
    with pytest.raises(SpecError) as info:
        load_spec(StackConfig("bad", values))
    assert len(info.value.problems) == 3


def test_slo_alert_names_are_camel_case_with_the_service_prefix() -> None:
    spec = stack_spec("dev")
    names = [n for slo in spec.slos for n in slo.alert_names]
    assert "ServingAvailabilityErrorBudgetBurnPage" in names
    assert all(cv.ALERT_NAME_RE.match(n) for n in names)


def test_pulumi_yaml_documents_exactly_the_settings_the_spec_accepts() -> None:
    """Only `environment` is declared (the engine requires every declared key without a
    default); every other setting is documented in the `# settings:` comment block."""
    text = (ROOT / "Pulumi.yaml").read_text()
    declared = yaml.safe_load(text)["config"]
    assert set(declared) == {"environment"}
    assert declared["environment"]["description"]
    block = text.split("# settings:\n", 1)[1].split("\nconfig:", 1)[0]
    documented = dict(re.findall(r"^#   (\w+): (\S.*)$", block, re.M))
    settings = {(f.alias or n) for n, f in PlatformSpec.model_fields.items()}
    assert set(documented) | {"environment"} == settings


_SHARED_SHAPES = (Image, Resources)  # documented once, above `# settings:`


def _nested_keys(annotation: Any, seen: frozenset[type[BaseModel]] = frozenset()) -> set[str]:
    """Every key a user may write under a setting of this type, at any depth, but the keys of
    the shapes Pulumi.yaml documents once."""
    keys: set[str] = set()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen or annotation in _SHARED_SHAPES:
            return keys
        for name, field in annotation.model_fields.items():
            keys.add(field.alias or name)
            keys |= _nested_keys(field.annotation, seen | {annotation})
    for arg in get_args(annotation):
        keys |= _nested_keys(arg, seen)
    return keys


def test_pulumi_yaml_lists_every_nested_key_under_its_setting() -> None:
    text = (ROOT / "Pulumi.yaml").read_text()
    header, block = text.split("# settings:\n", 1)
    block = block.split("\nconfig:", 1)[0]
    entries = dict(re.findall(r"^#   (\w+): (.*?)(?=^#   \w+: |\Z)", block, re.M | re.S))
    for shape in _SHARED_SHAPES:
        for name, field in shape.model_fields.items():
            assert re.search(rf"\b{field.alias or name}\b", header), (shape.__name__, name)
    missing = {}
    for name, field in PlatformSpec.model_fields.items():
        setting = field.alias or name
        expected = _nested_keys(field.annotation)
        if not expected:
            assert "Keys" not in entries.get(setting, ""), setting
            continue
        assert "Keys" in entries[setting], f"{setting}: no Keys: list"
        listed = set(re.findall(r"\w+", entries[setting].split("Keys", 1)[1]))
        if expected - listed:
            missing[setting] = sorted(expected - listed)
    assert missing == {}


# The accuracy SLO of each served model


def _accuracy(spec: PlatformSpec) -> list[str]:
    return [s.name for s in spec.slos if s.name.endswith("-accuracy")]


def test_each_served_model_gets_an_accuracy_slo_after_the_declared_ones() -> None:
    models = [profile("dev")["serving"]["models"][0] | {"name": n} for n in ("iris", "wine")]
    spec = load_spec(StackConfig("t", _dev(serving={"models": models})))
    assert [s.name for s in spec.slos] == [
        *(s.name for s in spec.declared_slos),
        "iris-accuracy",
        "wine-accuracy",
    ]
    slo = spec.slos[-1]
    assert (slo.objective, slo.period, slo.window_profile) == (80.0, "30d", "30d-quality")
    assert slo.labels == {"model": "wine"}
    assert slo.alert_names == (
        "WineAccuracyErrorBudgetBurnPage",
        "WineAccuracyErrorBudgetBurnTicket",
    )


def test_the_accuracy_slo_follows_the_floor_and_the_label_guard_of_the_accuracy_alert() -> None:
    alerts = {"minAccuracy": 0.95, "minLabelledPredictions": 20, "accuracyWindow": "30m"}
    slo = load_spec(StackConfig("t", _dev(alerts=alerts))).slos[-1]
    assert slo.objective == 95.0
    assert slo.window_profile == "30d"  # budget 5%: the Google windows reach 14.4 x 5% = 0.72
    assert slo.sli.events is not None
    guard = slo.sli.events.error_query.split("and on ()", 1)[1]
    assert "* 1800 >= 20" in guard
    assert 'correct="false"' not in guard


def test_accuracy_slos_can_be_turned_off_per_model_or_all_at_once() -> None:
    models = [profile("dev")["serving"]["models"][0] | {"name": n} for n in ("iris", "wine")]
    one_off = [models[0], models[1] | {"accuracySlo": False}]
    spec = load_spec(StackConfig("t", _dev(serving={"models": one_off})))
    assert _accuracy(spec) == ["iris-accuracy"]
    spec = load_spec(StackConfig("t", _dev(serving={"models": models, "accuracySlos": False})))
    assert _accuracy(spec) == []
    assert spec.slos == spec.declared_slos


def test_a_turned_off_accuracy_slo_frees_its_name_and_its_floor() -> None:
    mine = _slo(name="iris-classifier-accuracy", objective=80, windows="30d-quality")
    spec = load_spec(
        StackConfig(
            "t",
            _dev(
                slos=[mine],
                alerts={"minAccuracy": 0.5},
                serving={**profile("dev")["serving"], "accuracySlos": False},
            ),
        )
    )
    assert [s.name for s in spec.slos] == ["iris-classifier-accuracy"]
    assert spec.slos[0].window_profile == "30d-quality"


def test_a_spec_dumped_and_read_again_keeps_one_accuracy_slo_per_model() -> None:
    spec = stack_spec("dev")
    again = PlatformSpec.model_validate(spec.model_dump(by_alias=True))
    assert [s.name for s in again.slos] == [s.name for s in spec.slos]
    assert _accuracy(again) == ["iris-classifier-accuracy"]


def test_alert_overrides_may_name_the_accuracy_slos_alerts() -> None:
    page, ticket = cv.slo_alert_names("iris-classifier-accuracy")
    spec = load_spec(StackConfig("t", _dev(alertOverrides={ticket: {"disabled": True}})))
    assert spec.alert_override(ticket).disabled
    assert not spec.alert_override(page).disabled
