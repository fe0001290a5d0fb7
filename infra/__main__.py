"""The Pulumi program: check the stack's spec, then declare the platform on its target.

The spec is loaded before anything is registered, so a bad config stops
`pulumi preview` with one message naming every bad key. Then: providers and
the target, one component per platform service, Grafana's content, outputs.
Nothing else lives here.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

# `main: infra/` runs this file as a script: make the project root importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from dashboards import build_all, to_json
from infra import conventions as cv
from infra import endpoints as ep
from infra.components.docker import DockerTarget
from infra.components.grafana import GrafanaContent, GrafanaContentArgs, grafana_provider
from infra.components.kubernetes import KubernetesTarget, secrets_to_provide
from infra.components.platform import PlatformService, Target, grafana_admin_password
from infra.components.services import Inputs, plan
from infra.config import ROOT, SpecError, from_pulumi, load_spec, secret_keys
from infra.render import render_all

try:
    spec = load_spec(from_pulumi(), require_secrets=True)
except SpecError as err:
    raise pulumi.RunError(str(err)) from None

config = pulumi.Config()
secrets = {key: config.require_secret(key) for key in secret_keys(spec)}
endpoints = ep.for_spec(spec)
files = render_all(spec, endpoints)
admin_password = grafana_admin_password(spec, secrets)

target: Target = DockerTarget(spec) if spec.target == "docker" else KubernetesTarget(spec)
inputs = Inputs(spec, endpoints, files, secrets, ROOT, admin_password)
services = {w.name: PlatformService(w.name, w, target) for w in plan(inputs)}


def _grafana_content() -> GrafanaContent:
    """Grafana's content, through a provider that waits for a Grafana this stack runs."""
    if spec.grafana.cloud:
        assert spec.grafana.auth_token_secret is not None  # the spec requires it for Cloud
        grafana_auth = secrets[spec.grafana.auth_token_secret]
    else:
        assert admin_password is not None
        grafana_auth = pulumi.Output.concat(spec.grafana.admin_user, ":", admin_password)
    grafana_service = services.get(ep.resource_name(spec, cv.Component.GRAFANA.value))
    provider = grafana_provider(
        f"{spec.name}-grafana",
        spec,
        grafana_auth,
        pulumi.ResourceOptions(depends_on=[grafana_service] if grafana_service else []),
    )
    return GrafanaContent(
        f"{spec.name}-grafana-content",
        GrafanaContentArgs(
            spec=spec,
            endpoints=endpoints,
            dashboards={uid: to_json(d) for uid, d in build_all(spec).items()},
            secrets=secrets,
        ),
        pulumi.ResourceOptions(providers=[provider]),
    )


if spec.grafana.managed:
    _grafana_content()


def _published(service: PlatformService, port: str = "http") -> str:
    """Where a user reaches a service: on this machine for docker, in the cluster otherwise."""
    workload = service.workload
    if spec.target == "docker":
        return f"http://{spec.docker.bind_address}:{workload.publish[port]}"
    return f"http://{workload.name}.{spec.kubernetes.namespace}.svc:{workload.ports[port]}"


pulumi.export("environment", spec.environment)
pulumi.export("target", spec.target)
pulumi.export("grafanaUrl", str(spec.grafana.url).rstrip("/"))
pulumi.export("grafanaContent", spec.grafana.content)
pulumi.export(
    "urls",
    {
        c.value: _published(services[ep.resource_name(spec, c.value)])
        for c in (
            cv.Component.PROMETHEUS,
            cv.Component.ALERTMANAGER,
            cv.Component.MLFLOW,
            cv.Component.PUSHGATEWAY,
        )
    },
)
pulumi.export(
    "servingUrls",
    {
        m.name: _published(services[ep.resource_name(spec, f"serving-{m.name}")])
        for m in spec.serving.models
    },
)
pulumi.export("grafanaAdminUser", spec.grafana.admin_user)
if admin_password is not None:
    pulumi.export("grafanaAdminPassword", pulumi.Output.secret(admin_password))
if spec.kubernetes.render_yaml_to is not None:
    pulumi.export("renderedTo", spec.kubernetes.render_yaml_to)
    pulumi.export("secretsToProvide", secrets_to_provide([s.workload for s in services.values()]))
pulumi.export(
    "renderedFiles",
    {name: hashlib.sha256(text.encode()).hexdigest()[:16] for name, text in sorted(files.items())},
)
