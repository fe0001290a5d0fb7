"""Each policy against a compliant resource, a non-compliant one and one missing the property.

The policies are driven through their CrossGuard `validate` callables with
hand-built `ResourceValidationArgs`/`StackValidationArgs` (props behind the
SDK's unknown-checking proxy), exactly as the CLI drives them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from policies.framework import SENTINELS
from policies.registry import POLICIES, by_name
from tests.policies import samples as s
from tests.policies.harness import Resource, run_policy

Kind = Literal["compliant", "non-compliant", "missing"]
UNKNOWN_STRING = next(iter(sorted(SENTINELS)))
FIX_WORDS = re.compile(
    r"\b(set|add|use|remove|put|pin|keep|mount|pass|give|declare|move|bind|drop|take|enable|"
    r"deploy|list|upload|restore|leave|name|probe|do not)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Case:
    policy: str
    kind: Kind
    what: str
    resources: tuple[Resource, ...]
    expect: tuple[str, ...] = ()  # fragments of the one message reported; () when none is
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.policy} {self.kind}: {self.what}"


STS = s.statefulset()
C0: tuple[str | int, ...] = ("spec", "template", "spec", "containers", 0)
SEC = (*C0, "securityContext")
POD_SEC = ("spec", "template", "spec", "securityContext")
GRAFANA = s.grafana_statefulset()
GRAFANA_ENV = (*C0, "env")
DOCKER = s.docker_container()
AM = s.alertmanager(2)
SERVING3 = s.deployment("serving", replicas=3)
PAIR = {
    "global": {"external_labels": {"environment": "test", "replica": "${POD_NAME}"}},
    "alerting": {
        "alertmanagers": [],
        "alert_relabel_configs": [{"action": "labeldrop", "regex": "replica"}],
    },
    "scrape_configs": [],
}


def _env(resource: Resource, **values: str) -> Resource:
    env = list(resource.inputs["spec"]["template"]["spec"]["containers"][0]["env"])
    env = [e for e in env if e["name"] not in values] + [
        {"name": k, "value": v} for k, v in values.items()
    ]
    return s.changed(resource, GRAFANA_ENV, env)


def _loki(**changes: Any) -> Resource:
    document = {**s.LOKI, **changes}
    return s.configmap("loki", {"loki.yaml": s.config_yaml(document)})


CASES = [
    # images-pinned
    Case("images-pinned", "compliant", "a tagged image", (STS,)),
    Case(
        "images-pinned",
        "compliant",
        "a docker container whose image digest is unknown during preview",
        (s.changed(DOCKER, ("image",), UNKNOWN_STRING),),
    ),
    Case(
        "images-pinned",
        "non-compliant",
        "the latest tag",
        (s.changed(STS, (*C0, "image"), "prom/prometheus:latest"),),
        ("StatefulSet mlops-test-prometheus, container prometheus", "`latest`"),
    ),
    Case(
        "images-pinned",
        "non-compliant",
        "a malformed digest on a pulled image",
        (Resource(s.REMOTE_IMAGE, "img", {"name": "grafana/loki:3.5.1@sha256:abc"}),),
        ("malformed digest",),
    ),
    Case(
        "images-pinned",
        "non-compliant",
        "a tag without digest where the config requires digests",
        (Resource(s.REMOTE_IMAGE, "img", {"name": "grafana/loki:3.5.1"}),),
        ("not pinned by digest", "requireDigest"),
        {"requireDigest": True},
    ),
    Case(
        "images-pinned",
        "compliant",
        "a locally built image tagged by its sources, even when digests are required",
        (Resource(s.BUILT_IMAGE, "img", {"imageName": "mlops/serving:src-0123456789ab"}),),
        (),
        {"requireDigest": True},
    ),
    Case(
        "images-pinned",
        "missing",
        "an image without a tag",
        (s.changed(STS, (*C0, "image"), "prom/prometheus"),),
        ("has no tag",),
    ),
    Case(
        "images-pinned",
        "missing",
        "a container without an image",
        (s.without(STS, (*C0, "image")),),
        ("names no image",),
    ),
    # no-privileged-containers
    Case("no-privileged-containers", "compliant", "privileged false", (STS, DOCKER)),
    Case(
        "no-privileged-containers",
        "non-compliant",
        "a privileged container",
        (s.changed(STS, (*SEC, "privileged"), True),),
        ("container prometheus runs privileged",),
    ),
    Case(
        "no-privileged-containers",
        "non-compliant",
        "a privileged docker container",
        (s.changed(DOCKER, ("privileged",), True),),
        ("docker container mlops-dev-grafana runs privileged",),
    ),
    Case(
        "no-privileged-containers",
        "missing",
        "no privileged field (Kubernetes and docker default to false)",
        (s.without(STS, (*SEC, "privileged")), s.without(DOCKER, ("privileged",))),
    ),
    # no-host-access
    Case("no-host-access", "compliant", "volumes are claims and emptyDirs", (STS, DOCKER)),
    Case(
        "no-host-access",
        "non-compliant",
        "a hostPath volume",
        (
            s.changed(
                STS,
                ("spec", "template", "spec", "volumes"),
                [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}],
            ),
        ),
        ("host path /var/run/docker.sock", "PersistentVolumeClaim"),
    ),
    Case(
        "no-host-access",
        "non-compliant",
        "a docker bind mount",
        (
            s.changed(
                DOCKER, ("volumes",), [{"hostPath": "/home/me/data", "containerPath": "/data"}]
            ),
        ),
        ("host path /home/me/data", "named docker volume"),
    ),
    Case(
        "no-host-access",
        "non-compliant",
        "the host network",
        (s.changed(STS, ("spec", "template", "spec", "hostNetwork"), True),),
        ("hostNetwork: true",),
    ),
    Case(
        "no-host-access",
        "missing",
        "a pod without volumes",
        (s.without(STS, ("spec", "template", "spec", "volumes")),),
    ),
    # run-as-non-root
    Case("run-as-non-root", "compliant", "runAsNonRoot on the pod", (STS, DOCKER)),
    Case(
        "run-as-non-root",
        "non-compliant",
        "a container that overrides runAsNonRoot with false",
        (s.changed(STS, (*SEC, "runAsNonRoot"), False),),
        ("runAsNonRoot is false",),
    ),
    Case(
        "run-as-non-root",
        "non-compliant",
        "a docker container running as root",
        (s.changed(DOCKER, ("user",), "0:0"),),
        ("runs as root",),
    ),
    Case(
        "run-as-non-root",
        "missing",
        "runAsNonRoot set nowhere",
        (s.without(s.without(STS, (*SEC, "runAsNonRoot")), (*POD_SEC, "runAsNonRoot")),),
        ("runAsNonRoot is not set",),
    ),
    Case(
        "run-as-non-root",
        "missing",
        "a docker container without a user",
        (s.without(DOCKER, ("user",)),),
        ("sets no user",),
    ),
    # read-only-root-filesystem
    Case("read-only-root-filesystem", "compliant", "read-only roots", (STS, DOCKER)),
    Case(
        "read-only-root-filesystem",
        "non-compliant",
        "a writable root filesystem",
        (s.changed(DOCKER, ("readOnly",), False),),
        ("writable root filesystem (readOnly false)",),
    ),
    Case(
        "read-only-root-filesystem",
        "missing",
        "readOnlyRootFilesystem not set",
        (s.without(STS, (*SEC, "readOnlyRootFilesystem")),),
        ("container prometheus has a writable root filesystem",),
    ),
    # no-privilege-escalation
    Case("no-privilege-escalation", "compliant", "escalation off", (STS, DOCKER)),
    Case(
        "no-privilege-escalation",
        "non-compliant",
        "allowPrivilegeEscalation true",
        (s.changed(STS, (*SEC, "allowPrivilegeEscalation"), True),),
        ("may escalate privileges",),
    ),
    Case(
        "no-privilege-escalation",
        "missing",
        "allowPrivilegeEscalation not set (it defaults to true)",
        (s.without(STS, (*SEC, "allowPrivilegeEscalation")),),
        ("defaults to true",),
    ),
    Case(
        "no-privilege-escalation",
        "missing",
        "a docker container without no-new-privileges",
        (s.without(DOCKER, ("securityOpts",)),),
        ("no-new-privileges:true",),
    ),
    # capabilities-dropped
    Case("capabilities-dropped", "compliant", "drop ALL", (STS, DOCKER)),
    Case(
        "capabilities-dropped",
        "non-compliant",
        "an added SYS_ADMIN",
        (s.changed(STS, (*SEC, "capabilities", "add"), ["SYS_ADMIN"]),),
        ("adds capabilities SYS_ADMIN",),
    ),
    Case(
        "capabilities-dropped",
        "compliant",
        "an added capability the config allows",
        (s.changed(STS, (*SEC, "capabilities", "add"), ["NET_BIND_SERVICE"]),),
    ),
    Case(
        "capabilities-dropped",
        "missing",
        "no capabilities field",
        (s.without(DOCKER, ("capabilities",)),),
        ("capabilities.drops lacks ALL",),
    ),
    # no-plaintext-secrets
    Case(
        "no-plaintext-secrets",
        "compliant",
        "secrets from Secrets and files, references in configs",
        (
            s.changed(
                STS,
                (*C0, "env"),
                [
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}},
                    },
                    {"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "value": "/etc/secrets/pw"},
                    {"name": "PGPASSWORD", "value": "$(DB_PASSWORD)"},
                ],
            ),
            s.configmap(
                "alertmanager",
                {
                    "alertmanager.yml": "receivers:\n- name: x\n  slack_configs:\n"
                    "  - api_url_file: /etc/alertmanager/secrets/x-url\n"
                    "  email_configs:\n  - auth_password_file: /etc/am/pw\n",
                    "loki.yaml": "common:\n  storage:\n    s3:\n"
                    "      secret_access_key: ${S3_SECRET_ACCESS_KEY}\n",
                },
            ),
            DOCKER,
        ),
    ),
    Case(
        "no-plaintext-secrets",
        "non-compliant",
        "a password in a plain env variable",
        (s.changed(STS, (*C0, "env"), [{"name": "MLFLOW_TRACKING_PASSWORD", "value": "hunter2"}]),),
        ("env MLFLOW_TRACKING_PASSWORD holds a secret in plain text", "secretKeyRef"),
    ),
    Case(
        "no-plaintext-secrets",
        "non-compliant",
        "a Slack webhook in a ConfigMap",
        (
            s.configmap(
                "alertmanager",
                {
                    "alertmanager.yml": "receivers:\n- name: x\n  slack_configs:\n"
                    "  - api_url: https://hooks.slack.com/services/T0/B0/XYZ\n"  # pragma: allowlist secret
                },
            ),
        ),
        ("ConfigMap mlops-test-alertmanager-config, key alertmanager.yml", "a Slack webhook URL"),
    ),
    Case(
        "no-plaintext-secrets",
        "non-compliant",
        "a literal password key in a world-readable uploaded file",
        (
            s.changed(
                DOCKER,
                ("uploads",),
                [
                    {
                        "file": "/etc/x/config.yaml",
                        "content": "smtp:\n  password: hunter2\n",
                        "permissions": "0444",
                    }
                ],
            ),
        ),
        ("file /etc/x/config.yaml: smtp.password holds a literal secret",),
    ),
    Case(
        "no-plaintext-secrets",
        "non-compliant",
        "an S3 secret key in a docker env variable",
        (s.changed(DOCKER, ("envs",), ["S3_SECRET_ACCESS_KEY=abcdefgh12345678"]),),
        ("env S3_SECRET_ACCESS_KEY", "owner-only file"),
    ),
    Case(
        "no-plaintext-secrets",
        "missing",
        "a container without env and a ConfigMap without data",
        (s.without(STS, (*C0, "env")), s.configmap("x", {})),
    ),
    # grafana-secure-auth
    Case(
        "grafana-secure-auth",
        "compliant",
        "file password, anonymous and sign-up off",
        (GRAFANA, DOCKER),
    ),
    Case(
        "grafana-secure-auth",
        "non-compliant",
        "anonymous access on",
        (_env(GRAFANA, GF_AUTH_ANONYMOUS_ENABLED="true"),),
        ("GF_AUTH_ANONYMOUS_ENABLED is 'true'", "set GF_AUTH_ANONYMOUS_ENABLED=false"),
    ),
    Case(
        "grafana-secure-auth",
        "non-compliant",
        "the default admin password",
        (
            s.changed(
                DOCKER,
                ("envs",),
                [e for e in DOCKER.inputs["envs"] if "PASSWORD" not in e]
                + ["GF_SECURITY_ADMIN_PASSWORD=admin"],
            ),
        ),
        ("Grafana's default `admin`",),
    ),
    Case(
        "grafana-secure-auth",
        "non-compliant",
        "a provider signing in as admin:admin",
        (Resource(s.PROVIDER, "grafana", {"url": "http://127.0.0.1:3000", "auth": "admin:admin"}),),
        ("the Grafana provider signs in with Grafana's default admin credentials",),
    ),
    Case(
        "grafana-secure-auth",
        "missing",
        "sign-up not set",
        (
            s.changed(
                GRAFANA,
                GRAFANA_ENV,
                [
                    e
                    for e in GRAFANA.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
                    if e["name"] != "GF_USERS_ALLOW_SIGN_UP"
                ],
            ),
        ),
        ("GF_USERS_ALLOW_SIGN_UP is not set",),
    ),
    Case(
        "grafana-secure-auth",
        "missing",
        "no admin password at all",
        (s.changed(DOCKER, ("envs",), [e for e in DOCKER.inputs["envs"] if "PASSWORD" not in e]),),
        ("Grafana creates admin/admin",),
    ),
    # host-ports-on-localhost
    Case("host-ports-on-localhost", "compliant", "ports on 127.0.0.1", (DOCKER,)),
    Case(
        "host-ports-on-localhost",
        "non-compliant",
        "a port on 0.0.0.0",
        (s.changed(DOCKER, ("ports", 0, "ip"), "0.0.0.0"),),
        ("publishes port 3000 (container port 3000) on 0.0.0.0", "docker.bindAddress"),
    ),
    Case(
        "host-ports-on-localhost",
        "missing",
        "a port without ip (docker binds every interface)",
        (s.without(DOCKER, ("ports", 0, "ip")),),
        ("every interface",),
    ),
    # resources-requested-and-limited
    Case(
        "resources-requested-and-limited", "compliant", "requests and a memory limit", (STS, DOCKER)
    ),
    Case(
        "resources-requested-and-limited",
        "non-compliant",
        "a cpu limit missing where the config requires one",
        (STS,),
        ("has no limits.cpu",),
        {"requireCpuLimit": True},
    ),
    Case(
        "resources-requested-and-limited",
        "non-compliant",
        "an unlimited docker container",
        (s.changed(DOCKER, ("memory",), 0.0),),
        ("docker container mlops-dev-grafana has no memory",),
    ),
    Case(
        "resources-requested-and-limited",
        "missing",
        "a container without resources",
        (s.without(STS, (*C0, "resources")),),
        ("has no requests.cpu, requests.memory, limits.memory",),
    ),
    # health-probes
    Case("health-probes", "compliant", "readiness, liveness, healthcheck", (STS, DOCKER)),
    Case(
        "health-probes",
        "non-compliant",
        "a probe without a handler",
        (s.changed(STS, (*C0, "readinessProbe"), {"periodSeconds": 10.0}),),
        ("has no readinessProbe",),
    ),
    Case(
        "health-probes",
        "non-compliant",
        "a docker healthcheck disabled with NONE",
        (s.changed(DOCKER, ("healthcheck",), {"tests": ["NONE"]}),),
        ("has no healthcheck",),
    ),
    Case(
        "health-probes",
        "missing",
        "no liveness probe",
        (s.without(STS, (*C0, "livenessProbe")),),
        ("has no livenessProbe",),
    ),
    Case(
        "health-probes",
        "compliant",
        "an exempted docker container without a healthcheck",
        (s.without(DOCKER, ("healthcheck",)),),
        (),
        {"exemptions": {"mlops-dev-grafana-container": "no shell in the image"}},
    ),
    Case(
        "health-probes",
        "non-compliant",
        "liveness is the readiness check",
        (s.changed(STS, (*C0, "livenessProbe"), s.PROBE),),
        ("restarts when it is not ready", "tcpSocket"),
    ),
    # persistent-storage
    Case("persistent-storage", "compliant", "data on the claim", (STS, GRAFANA, DOCKER, AM)),
    Case(
        "persistent-storage",
        "non-compliant",
        "a data directory outside the claim",
        (
            s.changed(
                STS,
                (*C0, "args"),
                ["--storage.tsdb.path=/data", "--storage.tsdb.retention.time=15d"],
            ),
        ),
        ("writes /data outside its persistent volume (/prometheus)",),
    ),
    Case(
        "persistent-storage",
        "non-compliant",
        "a Pushgateway without a persistence file",
        (s.changed(s.statefulset("pushgateway"), (*C0, "args"), ["--web.listen-address=:9091"]),),
        ("without --persistence.file",),
    ),
    Case(
        "persistent-storage",
        "missing",
        "a stateful component without volumeClaimTemplates",
        (s.without(STS, ("spec", "volumeClaimTemplates")),),
        ("prometheus keeps its data in the container", "PersistentVolumeClaim"),
    ),
    Case(
        "persistent-storage",
        "missing",
        "a docker Grafana without volumes",
        (s.without(DOCKER, ("volumes",)),),
        ("put /var/lib/grafana on a named docker volume",),
    ),
    # retention-configured
    Case(
        "retention-configured",
        "compliant",
        "Prometheus flag, Loki compactor, Tempo block retention",
        (STS, _loki(), s.configmap("tempo", {"tempo.yaml": s.config_yaml(s.TEMPO)})),
    ),
    Case(
        "retention-configured",
        "compliant",
        "a Loki ConfigMap that holds ruler rules, not Loki's config",
        (s.configmap("loki", {"rules.yaml": s.platform_rules()}),),
    ),
    Case(
        "retention-configured",
        "non-compliant",
        "Loki's compactor not applying retention",
        (_loki(compactor={"working_directory": "/loki/compactor", "retention_enabled": False}),),
        ("compactor.retention_enabled is not true",),
    ),
    Case(
        "retention-configured",
        "non-compliant",
        "a zero Prometheus retention",
        (
            s.changed(
                STS,
                (*C0, "args"),
                ["--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=0s"],
            ),
        ),
        ("--storage.tsdb.retention.time",),
    ),
    Case(
        "retention-configured",
        "missing",
        "Prometheus without a retention flag",
        (s.changed(STS, (*C0, "args"), ["--storage.tsdb.path=/prometheus"]),),
        ("keeps the default 15d",),
    ),
    Case(
        "retention-configured",
        "missing",
        "a Tempo config without block_retention, uploaded into a docker container",
        (
            s.changed(
                s.docker_container("tempo"),
                ("uploads",),
                [
                    {
                        "file": "/etc/tempo/tempo.yaml",
                        "content": s.config_yaml({**s.TEMPO, "compactor": {}}),
                        "permissions": "0444",
                    }
                ],
            ),
        ),
        ("file /etc/tempo/tempo.yaml: Tempo has no compactor.compaction.block_retention",),
    ),
    # alert-rules-annotated
    Case(
        "alert-rules-annotated",
        "compliant",
        "annotated platform and SLO alerts",
        (
            s.configmap(
                "prometheus",
                {"rules_platform-alerts.yml": s.platform_rules(), "rules_slo.yml": s.slo_rules()},
            ),
        ),
    ),
    Case(
        "alert-rules-annotated",
        "non-compliant",
        "an unknown severity",
        (
            s.configmap(
                "prometheus",
                {"rules_platform-alerts.yml": s.platform_rules(s.alert("X", "urgent"))},
            ),
        ),
        ("alert X: needs a severity label from", "it has 'urgent'"),
    ),
    Case(
        "alert-rules-annotated",
        "missing",
        "an alert without runbook_url in a Grafana rule group",
        (
            Resource(
                s.RULE_GROUP,
                "rg",
                {
                    "name": "serving-logs",
                    "rules": [
                        {
                            **s.alert("Y"),
                            "name": "Y",
                            "annotations": {"summary": "s", "description": "d"},
                        }
                    ],
                },
            ),
        ),
        ("Grafana rule group serving-logs, alert Y: needs a runbook_url annotation",),
    ),
    # slo-alerts-complete
    Case(
        "slo-alerts-complete",
        "compliant",
        "page and ticket alerts",
        (s.configmap("prometheus", {"rules_slo.yml": s.slo_rules()}),),
    ),
    Case(
        "slo-alerts-complete",
        "non-compliant",
        "the ticket alert overridden to page",
        (s.configmap("prometheus", {"rules_slo.yml": s.slo_rules(severities=("page", "page"))}),),
        (
            "SLO serving-availability has no ticket alert",
            "ServingAvailabilityErrorBudgetBurnTicket",
        ),
    ),
    Case(
        "slo-alerts-complete",
        "missing",
        "SLO recordings without any alert",
        (s.configmap("prometheus", {"rules_slo.yml": s.slo_rules(severities=())}),),
        ("has no page and no ticket alert",),
    ),
    # alertmanager-highly-available
    Case("alertmanager-highly-available", "compliant", "two gossiping replicas", (AM, s.pdb(AM))),
    Case(
        "alertmanager-highly-available",
        "non-compliant",
        "one replica",
        (s.alertmanager(1),),
        (
            "StatefulSet mlops-test-alertmanager runs 1 Alertmanager replica(s), fewer than 2",
            "alertmanager.replicas",
        ),
    ),
    Case(
        "alertmanager-highly-available",
        "non-compliant",
        "three replicas without peers",
        (s.changed(s.alertmanager(3), (*C0, "args"), ["--storage.path=/alertmanager"]),),
        ("do not gossip",),
    ),
    Case(
        "alertmanager-highly-available",
        "non-compliant",
        "fewer replicas than the config asks",
        (AM,),
        ("fewer than 3",),
        {"minReplicas": 3},
    ),
    Case(
        "alertmanager-highly-available",
        "missing",
        "no replicas field (one replica)",
        (s.without(AM, ("spec", "replicas")),),
        ("runs 1 Alertmanager replica(s)",),
    ),
    Case(
        "alertmanager-highly-available",
        "missing",
        "no Alertmanager at all",
        (STS,),
        ("declares no Alertmanager",),
    ),
    # host-access-isolated
    Case(
        "host-access-isolated",
        "compliant",
        "node-exporter alone in a privileged namespace, the rest restricted",
        (
            s.namespace(s.NS, "restricted"),
            s.namespace("mlops-host", "privileged"),
            STS,
            s.node_exporter("mlops-host"),
        ),
    ),
    Case(
        "host-access-isolated",
        "non-compliant",
        "Prometheus beside node-exporter in the privileged namespace",
        (
            s.namespace("mlops-host", "privileged"),
            s.changed(STS, ("metadata", "namespace"), "mlops-host"),
        ),
        (
            "StatefulSet mlops-test-prometheus runs in namespace mlops-host",
            "move it to the platform's restricted namespace",
        ),
    ),
    Case(
        "host-access-isolated",
        "non-compliant",
        "node-exporter in the restricted namespace",
        (s.namespace(s.NS, "restricted"), s.node_exporter(s.NS)),
        ("DaemonSet mlops-test-node-exporter reads its host but runs in the restricted namespace",),
    ),
    Case(
        "host-access-isolated",
        "missing",
        "a namespace with no Pod Security level (the cluster's default: privileged)",
        (s.namespace(s.NS, None), STS),
        ("runs in namespace mlops-test, whose Pod Security level is privileged",),
    ),
    # network-policies
    Case(
        "network-policies",
        "compliant",
        "a default deny and a policy allowing the pods their flows",
        (s.namespace(s.NS, "restricted"), s.network_policy(), SERVING3, s.network_policy(SERVING3)),
    ),
    Case(
        "network-policies",
        "compliant",
        "a namespace the stack does not declare is someone else's to fence",
        (SERVING3,),
    ),
    Case(
        "network-policies",
        "non-compliant",
        "no default deny in the namespace",
        (s.namespace(s.NS, "restricted"), SERVING3, s.network_policy(SERVING3)),
        ("namespace mlops-test holds the platform's pods but no default-deny NetworkPolicy",),
    ),
    Case(
        "network-policies",
        "non-compliant",
        "the allow policy selects other pods",
        (
            s.namespace(s.NS, "restricted"),
            s.network_policy(),
            SERVING3,
            s.changed(
                s.network_policy(SERVING3),
                ("spec", "podSelector", "matchLabels", "app.kubernetes.io/name"),
                "other",
            ),
        ),
        ("Deployment mlops-test-serving: no NetworkPolicy selects its pods",),
    ),
    Case(
        "network-policies",
        "missing",
        "an allow policy without a podSelector selects no pod",
        (
            s.namespace(s.NS, "restricted"),
            s.network_policy(),
            SERVING3,
            s.without(s.network_policy(SERVING3), ("spec", "podSelector")),
        ),
        ("Deployment mlops-test-serving: no NetworkPolicy selects its pods",),
    ),
    Case(
        "network-policies",
        "missing",
        "policies not known during preview are judged at up",
        (
            s.namespace(s.NS, "restricted"),
            s.changed(s.network_policy(), ("spec",), UNKNOWN_STRING),
            SERVING3,
        ),
    ),
    # disruption-budgets
    Case(
        "disruption-budgets",
        "compliant",
        "a budget selecting the pods",
        (SERVING3, s.pdb(SERVING3), STS),
    ),
    Case(
        "disruption-budgets",
        "non-compliant",
        "a budget allowing no disruption",
        (SERVING3, s.pdb(SERVING3, max_unavailable=0.0)),
        (
            "PodDisruptionBudget mlops-test-serving allows no voluntary disruption",
            "maxUnavailable: 1",
        ),
    ),
    Case(
        "disruption-budgets",
        "non-compliant",
        "a budget selecting other pods",
        (
            SERVING3,
            s.changed(
                s.pdb(SERVING3),
                ("spec", "selector", "matchLabels", "app.kubernetes.io/name"),
                "other",
            ),
        ),
        (
            "Deployment mlops-test-serving runs 3 replicas but no PodDisruptionBudget selects its pods",
        ),
    ),
    Case(
        "disruption-budgets",
        "missing",
        "no budget",
        (SERVING3,),
        ("no PodDisruptionBudget selects its pods",),
    ),
    # replicas-spread
    Case("replicas-spread", "compliant", "replicas spread by node", (s.spread(SERVING3), STS)),
    Case(
        "replicas-spread",
        "non-compliant",
        "a spread the scheduler may ignore",
        (s.spread(SERVING3, hard=False),),
        ("Deployment mlops-test-serving runs 3 replicas that may share a node", "DoNotSchedule"),
    ),
    Case(
        "replicas-spread",
        "compliant",
        "a required pod anti-affinity by node",
        (
            s.changed(
                SERVING3,
                ("spec", "template", "spec", "affinity"),
                {
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": SERVING3.inputs["spec"]["selector"],
                            }
                        ]
                    }
                },
            ),
        ),
    ),
    Case(
        "replicas-spread",
        "missing",
        "no spread",
        (SERVING3,),
        ("may share a node",),
    ),
    # prometheus-highly-available
    Case(
        "prometheus-highly-available",
        "compliant",
        "a pair dropping its replica label from alerts",
        (s.statefulset(replicas=2), s.prometheus_config(PAIR)),
        (),
        {"minReplicas": 2},
    ),
    Case(
        "prometheus-highly-available",
        "non-compliant",
        "a pair whose alerts keep the replica label",
        (
            s.statefulset(replicas=2),
            s.prometheus_config({**PAIR, "alerting": {"alertmanagers": []}}),
        ),
        ("keeps the per-replica external label 'replica' on alerts", "labeldrop"),
    ),
    Case(
        "prometheus-highly-available",
        "missing",
        "a single replica where two are required",
        (s.statefulset(), s.prometheus_config({"scrape_configs": []})),
        ("runs 1 Prometheus replica(s), fewer than 2",),
        {"minReplicas": 2},
    ),
    # dashboards-in-folders
    Case("dashboards-in-folders", "compliant", "a declared folder", (s.folder(), s.dashboard())),
    Case(
        "dashboards-in-folders",
        "compliant",
        "a folder uid unknown during preview",
        (s.folder(), s.dashboard(folder_uid=UNKNOWN_STRING)),
    ),
    Case(
        "dashboards-in-folders",
        "non-compliant",
        "a folder the stack does not declare",
        (s.folder(), s.dashboard(folder_uid="someone-elses")),
        ("dashboard 'Serving RED' (uid mlops-serving-red) is placed in folder 'someone-elses'",),
    ),
    Case(
        "dashboards-in-folders",
        "missing",
        "no folder",
        (s.folder(), s.dashboard(folder_uid=None)),
        ("lands in General",),
    ),
    # dashboards-use-declared-datasources
    Case(
        "dashboards-use-declared-datasources",
        "compliant",
        "declared uids, built-ins and template variables",
        (s.datasource(), s.dashboard()),
    ),
    Case(
        "dashboards-use-declared-datasources",
        "non-compliant",
        "an undeclared uid",
        (s.datasource(), s.dashboard(source="grafanacloud-prom")),
        ("queries datasources the stack does not declare: grafanacloud-prom",),
    ),
    Case(
        "dashboards-use-declared-datasources",
        "missing",
        "no datasource declared at all",
        (s.dashboard(),),
        ("does not declare: mlops-prometheus (declared uids: none)",),
    ),
    Case(
        "dashboards-use-declared-datasources",
        "missing",
        "a dashboard without configJson",
        (s.datasource(), s.without(s.dashboard(), ("configJson",))),
        ("configJson is missing or not a JSON object",),
    ),
]


def _run(case: Case) -> list[str]:
    return [
        message for message, _ in run_policy(by_name()[case.policy], case.resources, case.settings)
    ]


def _cases(*kinds: Kind, reported: bool | None = None) -> pytest.MarkDecorator:
    chosen = [
        c for c in CASES
        if c.kind in kinds and (reported is None or bool(c.expect) == reported)
    ]  # fmt: skip
    return pytest.mark.parametrize("case", chosen, ids=[c.id for c in chosen])


@_cases("compliant")
def test_a_compliant_resource_passes(case: Case) -> None:
    assert _run(case) == []


@_cases("non-compliant")
def test_a_non_compliant_resource_is_reported_with_the_resource_and_a_fix(case: Case) -> None:
    messages = _run(case)
    assert len(messages) == 1, messages
    for fragment in case.expect:
        assert fragment in messages[0]
    assert FIX_WORDS.search(messages[0].split(";", 1)[-1]), f"no remedy in: {messages[0]}"


@_cases("missing")
def test_a_resource_missing_the_property_gets_the_documented_verdict(case: Case) -> None:
    messages = _run(case)
    if not case.expect:
        assert messages == []
        return
    assert len(messages) == 1, messages
    for fragment in case.expect:
        assert fragment in messages[0]


@pytest.mark.parametrize("policy", [p.name for p in POLICIES])
def test_every_policy_has_a_compliant_a_non_compliant_and_a_missing_case(policy: str) -> None:
    kinds = {c.kind for c in CASES if c.policy == policy}
    assert kinds == {"compliant", "non-compliant", "missing"}


def test_a_resource_of_another_type_is_left_alone() -> None:
    other = Resource("random:index/randomPassword:RandomPassword", "pw", {"length": 32.0})
    for policy in POLICIES:
        assert run_policy(policy, [other]) == [] or policy.name == "alertmanager-highly-available"


def test_values_unknown_during_preview_are_skipped_not_failed() -> None:
    """During preview some inputs are unknown; a policy that touched them through the SDK's
    proxy would raise. Every policy must judge what is known and skip the rest."""
    unknown_everywhere = [
        s.changed(STS, (*C0, "securityContext"), UNKNOWN_STRING),
        s.changed(STS, (*C0, "image"), UNKNOWN_STRING),
        s.changed(DOCKER, ("envs",), UNKNOWN_STRING),
        s.changed(DOCKER, ("volumes",), UNKNOWN_STRING),
        s.changed(DOCKER, ("user",), UNKNOWN_STRING),
        s.changed(
            s.configmap("prometheus", {"rules_slo.yml": s.slo_rules()}), ("data",), UNKNOWN_STRING
        ),
        s.changed(s.dashboard(), ("configJson",), UNKNOWN_STRING),
        s.changed(s.datasource(), ("uid",), UNKNOWN_STRING),
        s.folder(),
        AM,
        s.pdb(AM),
    ]
    for policy in POLICIES:
        assert run_policy(policy, unknown_everywhere) == [], policy.name
