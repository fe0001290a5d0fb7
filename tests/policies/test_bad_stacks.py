"""Deliberately bad stacks: each trips exactly the policy it was made for, with a message a user
can act on.

Where the spec can express the mistake, the bad stack is a shipped stack with
one config key overridden, run through the real program. Where the spec
already refuses it (a `latest` tag, a privileged container: the program
never declares them), the bad stack is a shipped stack's mocked resources
with one property of one resource changed, as a hand-edited program or a
future change could declare it; each such case says so.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from pulumi_policy import EnforcementLevel

from policies.registry import by_name
from tests.policies.harness import Resource, evaluate, from_mocks, level_of, load_config
from tests.program import run_program, stack_config

Inputs = dict[str, Any]
Mutation = Callable[[list[Resource]], list[Resource]]
C0 = ("spec", "template", "spec", "containers", 0)


@dataclass(frozen=True)
class BadStack:
    id: str
    policy: str
    stack: str
    expect: tuple[str, ...]  # fragments of the messages reported
    resource: str  # the Pulumi name of the resource the violation is reported on ("" for the stack)
    config: Mapping[str, Any] | None = None  # config keys merged over the stack's (objects merge)
    secrets: Mapping[str, str] | None = None  # extra secret config keys and values
    mutate: Mutation | None = None


def edit(name: str, change: Callable[[Inputs], None]) -> Mutation:
    """Change the inputs of the resource called `name` (which must exist)."""

    def mutation(resources: list[Resource]) -> list[Resource]:
        assert any(r.name == name for r in resources), f"no resource {name}"
        out = []
        for r in resources:
            if r.name == name:
                inputs = copy.deepcopy(dict(r.inputs))
                change(inputs)
                out.append(Resource(r.typ, r.name, inputs, r.stack))
            else:
                out.append(r)
        return out

    return mutation


def drop(name: str) -> Mutation:
    def mutation(resources: list[Resource]) -> list[Resource]:
        assert any(r.name == name for r in resources), f"no resource {name}"
        return [r for r in resources if r.name != name]

    return mutation


def both(*mutations: Mutation) -> Mutation:
    """The mutations one after the other (an edit and the edit it drags along)."""

    def mutation(resources: list[Resource]) -> list[Resource]:
        for m in mutations:
            resources = m(resources)
        return resources

    return mutation


def container(inputs: Inputs) -> Inputs:
    """The first container of a workload's pod template (the live dict, edited in place)."""
    node: Any = inputs
    for step in C0:
        node = node[step]
    assert isinstance(node, dict)
    return node


def _yaml_key(key: str, change: Callable[[Any], None]) -> Callable[[Inputs], None]:
    def apply(inputs: Inputs) -> None:
        document = yaml.safe_load(inputs["data"][key])
        change(document)
        inputs["data"][key] = yaml.safe_dump(document, sort_keys=False)

    return apply


def _drop_runbook(document: Any) -> None:
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "ServingHighErrorRatio":
                del rule["annotations"]["runbook_url"]


def _retag_datasource(inputs: Inputs) -> None:
    inputs["configJson"] = inputs["configJson"].replace('"mlops-loki"', '"loki-typo"')


def _env(name: str, value: str) -> Callable[[Inputs], None]:
    def apply(inputs: Inputs) -> None:
        env = container(inputs)["env"]
        env[:] = [e for e in env if e["name"] != name] + [{"name": name, "value": value}]

    return apply


def _hostpath(inputs: Inputs) -> None:
    inputs["spec"]["template"]["spec"]["volumes"].append(
        {"name": "host-logs", "hostPath": {"path": "/var/log"}}
    )


def _host_pid(inputs: Inputs) -> None:
    inputs["spec"]["template"]["spec"]["hostPID"] = True


def _writable_host_path(inputs: Inputs) -> None:
    """node-exporter's own exception, stretched: one more host path, writable."""
    pod = inputs["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "host-etc", "hostPath": {"path": "/etc"}})
    pod["containers"][0]["volumeMounts"].append({"name": "host-etc", "mountPath": "/host/etc"})


def _writable_run(inputs: Inputs) -> None:
    for volume in inputs["volumes"]:
        if volume["hostPath"] == "/var/run":
            volume["readOnly"] = False


def _disguised_as_node_exporter(inputs: Inputs) -> None:
    """A Prometheus that calls itself node-exporter, to borrow its host access."""
    inputs["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "node-exporter"
    inputs["spec"]["template"]["spec"]["hostNetwork"] = True


def _root(inputs: Inputs) -> None:
    inputs["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False, runAsUser=0.0)
    container(inputs)["securityContext"]["runAsNonRoot"] = False


def _ephemeral_data(inputs: Inputs) -> None:
    del inputs["spec"]["volumeClaimTemplates"]
    inputs["spec"]["template"]["spec"]["volumes"].append({"name": "data", "emptyDir": {}})


BAD_STACKS = [
    BadStack(
        "prod pulls Prometheus by the latest tag (the spec refuses latest: resources edited)",
        "images-pinned",
        "prod",
        (
            "StatefulSet mlops-prod-prometheus, container prometheus",
            "`latest`",
            "pin a version tag",
        ),
        "mlops-prod-prometheus-statefulset",
        mutate=edit(
            "mlops-prod-prometheus-statefulset",
            lambda i: container(i).update(image="prom/prometheus:latest"),
        ),
    ),
    BadStack(
        "prod runs the serving API privileged (the program never does: resources edited)",
        "no-privileged-containers",
        "prod",
        ("Deployment mlops-prod-serving-iris-classifier, container serving runs privileged",),
        "mlops-prod-serving-iris-classifier-deployment",
        mutate=edit(
            "mlops-prod-serving-iris-classifier-deployment",
            lambda i: container(i)["securityContext"].update(privileged=True),
        ),
    ),
    BadStack(
        "prod mounts the node's /var/log into Loki (resources edited)",
        "no-host-access",
        "prod",
        ("StatefulSet mlops-prod-loki mounts the host path /var/log",),
        "mlops-prod-loki-statefulset",
        mutate=edit("mlops-prod-loki-statefulset", _hostpath),
    ),
    BadStack(
        "staging shares the node's PID namespace with Prometheus (resources edited)",
        "no-host-access",
        "staging",
        ("StatefulSet mlops-staging-prometheus shares the node's namespace (hostPID: true)",),
        "mlops-staging-prometheus-statefulset",
        mutate=edit("mlops-staging-prometheus-statefulset", _host_pid),
    ),
    BadStack(
        "staging gives node-exporter a host path beyond its exception (resources edited)",
        "no-host-access",
        "staging",
        ("DaemonSet mlops-staging-node-exporter mounts the host path /etc",),
        "mlops-staging-node-exporter-daemonset",
        mutate=edit("mlops-staging-node-exporter-daemonset", _writable_host_path),
    ),
    BadStack(
        "staging labels Prometheus node-exporter to borrow host networking (resources edited)",
        "no-host-access",
        "staging",
        ("StatefulSet mlops-staging-prometheus shares the node's namespace (hostNetwork: true)",),
        "mlops-staging-prometheus-statefulset",
        mutate=both(
            edit("mlops-staging-prometheus-statefulset", _disguised_as_node_exporter),
            # Its fence follows it: the disguise is what no-host-access must see through.
            edit(
                "mlops-staging-prometheus-networkpolicy",
                lambda i: i["spec"]["podSelector"]["matchLabels"].update(
                    {"app.kubernetes.io/name": "node-exporter"}
                ),
            ),
        ),
    ),
    BadStack(
        "staging runs MLflow in the host collectors' privileged namespace (resources edited)",
        "host-access-isolated",
        "staging",
        (
            "StatefulSet mlops-staging-mlflow runs in namespace mlops-staging-host-metrics",
            "Pod Security level is privileged",
            "move it to the platform's restricted namespace",
        ),
        "mlops-staging-mlflow-statefulset",
        mutate=both(
            *(
                edit(name, lambda i: i["metadata"].update(namespace="mlops-staging-host-metrics"))
                for name in (
                    "mlops-staging-mlflow-statefulset",
                    "mlops-staging-mlflow-networkpolicy",
                )
            )
        ),
    ),
    BadStack(
        "dev mounts cAdvisor's host paths writable (resources edited)",
        "no-host-access",
        "dev",
        ("docker container mlops-dev-cadvisor mounts the host path /var/run",),
        "mlops-dev-cadvisor-container",
        mutate=edit("mlops-dev-cadvisor-container", _writable_run),
    ),
    BadStack(
        "prod runs MLflow as root (resources edited)",
        "run-as-non-root",
        "prod",
        (
            "StatefulSet mlops-prod-mlflow, container mlflow",
            "runAsNonRoot is false",
            "runAsUser is 0",
        ),
        "mlops-prod-mlflow-statefulset",
        mutate=edit("mlops-prod-mlflow-statefulset", _root),
    ),
    BadStack(
        "dev gives Tempo a writable root filesystem (resources edited)",
        "read-only-root-filesystem",
        "dev",
        ("docker container mlops-dev-tempo has a writable root filesystem", "read_only=True"),
        "mlops-dev-tempo-container",
        mutate=edit("mlops-dev-tempo-container", lambda i: i.update(readOnly=False)),
    ),
    BadStack(
        "staging lets Grafana escalate privileges (resources edited)",
        "no-privilege-escalation",
        "staging",
        ("StatefulSet mlops-staging-grafana, container grafana may escalate privileges",),
        "mlops-staging-grafana-statefulset",
        mutate=edit(
            "mlops-staging-grafana-statefulset",
            lambda i: container(i)["securityContext"].update(allowPrivilegeEscalation=True),
        ),
    ),
    BadStack(
        "staging gives the collector NET_ADMIN (resources edited)",
        "capabilities-dropped",
        "staging",
        ("container otel-collector adds capabilities NET_ADMIN",),
        "mlops-staging-otel-collector-deployment",
        mutate=edit(
            "mlops-staging-otel-collector-deployment",
            lambda i: container(i)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        ),
    ),
    BadStack(
        "dev keeps Loki's chunks in S3: the docker target passes the keys as plain env variables",
        "no-plaintext-secrets",
        "dev",
        ("docker container mlops-dev-loki: env S3_", "in plain text", "owner-only file"),
        "mlops-dev-loki-container",
        config={
            "mlops:loki": {
                "storage": {
                    "kind": "s3",
                    "bucket": "logs",
                    "endpoint": "minio.example.com:9000",
                    "accessKeyIdSecret": "lokiKeyId",
                    "secretAccessKeySecret": "lokiSecretKey",
                }
            }
        },
        secrets={
            "mlops:lokiKeyId": "AKIAIOSFODNN7EXAMPLE",  # pragma: allowlist secret
            "mlops:lokiSecretKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # pragma: allowlist secret
        },
    ),
    BadStack(
        "prod pastes a Slack webhook into Alertmanager's ConfigMap (the spec refuses it: "
        "resources edited)",
        "no-plaintext-secrets",
        "prod",
        ("ConfigMap mlops-prod-alertmanager-config, key alertmanager.yml", "Slack webhook URL"),
        "mlops-prod-alertmanager-configmap-config",
        mutate=edit(
            "mlops-prod-alertmanager-configmap-config",
            lambda i: i["data"].update(
                {
                    "alertmanager.yml": i["data"]["alertmanager.yml"].replace(
                        "api_url_file: /etc/alertmanager/secrets/ml-team-slack-url",
                        "api_url: https://hooks.slack.com/services/T000/B000/XXXXXXXX",  # pragma: allowlist secret
                    )
                }
            ),
        ),
    ),
    BadStack(
        "prod opens Grafana to anonymous users (resources edited)",
        "grafana-secure-auth",
        "prod",
        ("StatefulSet mlops-prod-grafana, container grafana: GF_AUTH_ANONYMOUS_ENABLED is 'true'",),
        "mlops-prod-grafana-statefulset",
        mutate=edit("mlops-prod-grafana-statefulset", _env("GF_AUTH_ANONYMOUS_ENABLED", "true")),
    ),
    BadStack(
        "dev publishes its ports on every interface",
        "host-ports-on-localhost",
        "dev",
        ("on 0.0.0.0, reachable from the network", "docker.bindAddress"),
        "mlops-dev-grafana-container",
        config={"mlops:docker": {"bindAddress": "0.0.0.0"}},
    ),
    BadStack(
        "prod's serving API requests nothing (the spec requires resources: resources edited)",
        "resources-requested-and-limited",
        "prod",
        ("container serving has no requests.cpu, requests.memory",),
        "mlops-prod-serving-iris-classifier-deployment",
        mutate=edit(
            "mlops-prod-serving-iris-classifier-deployment",
            lambda i: container(i)["resources"].pop("requests"),
        ),
    ),
    BadStack(
        "staging's MLflow has no liveness probe (resources edited)",
        "health-probes",
        "staging",
        ("StatefulSet mlops-staging-mlflow, container mlflow has no livenessProbe",),
        "mlops-staging-mlflow-statefulset",
        mutate=edit(
            "mlops-staging-mlflow-statefulset", lambda i: container(i).pop("livenessProbe")
        ),
    ),
    BadStack(
        "prod keeps Prometheus' TSDB in an emptyDir (resources edited)",
        "persistent-storage",
        "prod",
        ("container prometheus: prometheus keeps its data in the container", "/prometheus"),
        "mlops-prod-prometheus-statefulset",
        mutate=edit("mlops-prod-prometheus-statefulset", _ephemeral_data),
    ),
    BadStack(
        "staging's Loki config loses its retention period (the spec requires one: resources "
        "edited)",
        "retention-configured",
        "staging",
        ("ConfigMap mlops-staging-loki-config, key loki.yaml", "limits_config.retention_period"),
        "mlops-staging-loki-configmap-config",
        mutate=edit(
            "mlops-staging-loki-configmap-config",
            _yaml_key("loki.yaml", lambda d: d["limits_config"].pop("retention_period")),
        ),
    ),
    BadStack(
        "prod runs a single Alertmanager",
        "alertmanager-highly-available",
        "prod",
        ("StatefulSet mlops-prod-alertmanager runs 1 Alertmanager replica(s), fewer than 2",),
        "mlops-prod-alertmanager-statefulset",
        config={"mlops:alertmanager": {"replicas": 1}},
    ),
    BadStack(
        "prod runs a single Prometheus",
        "prometheus-highly-available",
        "prod",
        ("StatefulSet mlops-prod-prometheus runs 1 Prometheus replica(s), fewer than 2",),
        "mlops-prod-prometheus-statefulset",
        config={"mlops:prometheus": {"replicas": 1}},
    ),
    BadStack(
        "prod's Alertmanagers may share a node (the program always spreads them: resources edited)",
        "replicas-spread",
        "prod",
        ("StatefulSet mlops-prod-alertmanager runs 3 replicas that may share a node",),
        "mlops-prod-alertmanager-statefulset",
        mutate=edit(
            "mlops-prod-alertmanager-statefulset",
            lambda inputs: inputs["spec"]["template"]["spec"].pop("topologySpreadConstraints"),
        ),
    ),
    BadStack(
        "prod's serving replicas lose their disruption budget (resources edited)",
        "disruption-budgets",
        "prod",
        (
            "Deployment mlops-prod-serving-iris-classifier runs 3 replicas but no "
            "PodDisruptionBudget selects its pods",
        ),
        "mlops-prod-serving-iris-classifier-deployment",
        mutate=drop("mlops-prod-serving-iris-classifier-poddisruptionbudget"),
    ),
    BadStack(
        "prod's namespace loses its default deny (resources edited)",
        "network-policies",
        "prod",
        ("namespace mlops-prod holds the platform's pods but no default-deny NetworkPolicy",),
        "mlops-prod",
        mutate=drop("mlops-prod-default-deny"),
    ),
    BadStack(
        "staging's MLflow loses its allow policy (resources edited)",
        "network-policies",
        "staging",
        ("StatefulSet mlops-staging-mlflow: no NetworkPolicy selects its pods",),
        "mlops-staging-mlflow-statefulset",
        mutate=drop("mlops-staging-mlflow-networkpolicy"),
    ),
    BadStack(
        "prod's error-ratio alert loses its runbook (the renderer always adds one: resources "
        "edited)",
        "alert-rules-annotated",
        "prod",
        ("key rules_platform-alerts.yml, alert ServingHighErrorRatio: needs a runbook_url",),
        "mlops-prod-prometheus-configmap-config",
        mutate=edit(
            "mlops-prod-prometheus-configmap-config",
            _yaml_key("rules_platform-alerts.yml", _drop_runbook),
        ),
    ),
    BadStack(
        "staging disables the latency SLO's ticket alert",
        "slo-alerts-complete",
        "staging",
        ("SLO serving-latency has no ticket alert", "ServingLatencyErrorBudgetBurnTicket"),
        "mlops-staging-prometheus-configmap-config",
        config={
            "mlops:alertOverrides": {"ServingLatencyErrorBudgetBurnTicket": {"disabled": True}}
        },
    ),
    BadStack(
        "dev turns the availability SLO's ticket into a page",
        "slo-alerts-complete",
        "dev",
        ("SLO serving-availability has no ticket alert",),
        "mlops-dev-prometheus-container",
        config={
            "mlops:alertOverrides": {
                "ServingAvailabilityErrorBudgetBurnTicket": {"severity": "page"}
            }
        },
    ),
    BadStack(
        "dev puts the model-health dashboard in General (resources edited)",
        "dashboards-in-folders",
        "dev",
        ("dashboard 'Model health'", "lands in General"),
        "mlops-dev-grafana-content-dashboard-mlops-model-health",
        mutate=edit(
            "mlops-dev-grafana-content-dashboard-mlops-model-health", lambda i: i.pop("folder")
        ),
    ),
    BadStack(
        "staging's logs dashboard names a Loki uid nobody declares (resources edited)",
        "dashboards-use-declared-datasources",
        "staging",
        ("queries datasources the stack does not declare: loki-typo",),
        "mlops-staging-grafana-content-dashboard-mlops-logs-traces",
        mutate=edit("mlops-staging-grafana-content-dashboard-mlops-logs-traces", _retag_datasource),
    ),
]


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, Mapping):
        return {**base, **{k: _merge(base.get(k), v) for k, v in patch.items()}}
    return copy.deepcopy(patch)


def _configured(bad: BadStack) -> list[Resource]:
    config, secrets = stack_config(bad.stack)
    config = dict(config)
    for key, patch in (bad.config or {}).items():
        current = json.loads(config[key]) if key in config else {}
        config[key] = json.dumps(_merge(current, patch))
    config |= dict(bad.secrets or {})
    secrets = [*secrets, *(bad.secrets or {})]
    return from_mocks(run_program(bad.stack, config, secrets).mocks.resources, bad.stack)


@pytest.fixture(scope="module")
def shipped() -> dict[str, list[Resource]]:
    stacks = sorted({b.stack for b in BAD_STACKS if b.mutate})
    return {stack: from_mocks(run_program(stack).mocks.resources, stack) for stack in stacks}


@pytest.mark.parametrize("bad", BAD_STACKS, ids=[b.id for b in BAD_STACKS])
def test_a_bad_stack_trips_exactly_its_policy_with_an_actionable_message(
    shipped: dict[str, list[Resource]], bad: BadStack
) -> None:
    resources = bad.mutate(shipped[bad.stack]) if bad.mutate else _configured(bad)
    violations = evaluate(resources, load_config(bad.stack))
    assert {v.policy for v in violations} == {bad.policy}, "\n".join(str(v) for v in violations)
    for fragment in bad.expect:
        assert any(fragment in v.message for v in violations), "\n".join(map(str, violations))
    assert any((v.urn or "").endswith(f"::{bad.resource}") for v in violations), [
        v.urn for v in violations
    ]


def test_every_policy_has_a_bad_stack() -> None:
    assert {b.policy for b in BAD_STACKS} == set(by_name())


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_in_staging_and_prod_every_bad_stack_would_block_the_preview(stack: str) -> None:
    config = load_config(stack)
    for bad in BAD_STACKS:
        assert level_of(by_name()[bad.policy], config) == EnforcementLevel.MANDATORY
