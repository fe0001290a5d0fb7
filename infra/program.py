"""The Pulumi program as a function: a checked spec and its secrets in, the stack's outputs out.

`infra/__main__.py`, which the engine runs, only reads the stack and exports what
`declare` returns; the tests call the same two functions under mocks, so they judge
the program the engine runs. Declared in order: the target, one component per
platform service, Grafana's content; then the outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

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
from infra.spec import PlatformSpec

Secrets = Mapping[str, pulumi.Output[str]]
Services = Mapping[str, PlatformService]


def stack_inputs() -> tuple[PlatformSpec, dict[str, pulumi.Output[str]]]:
    """The stack's spec, checked before anything is registered (a bad config stops
    `pulumi preview` with one message naming every bad key), and its secret values."""
    try:
        spec = load_spec(from_pulumi(), require_secrets=True)
    except SpecError as err:
        raise pulumi.RunError(str(err)) from None
    config = pulumi.Config()
    return spec, {key: config.require_secret(key) for key in secret_keys(spec)}


def declare(spec: PlatformSpec, secrets: Secrets) -> dict[str, Any]:
    """Every resource of the stack; returns the stack outputs by name, in export order."""
    endpoints = ep.for_spec(spec)
    files = render_all(spec, endpoints)
    admin_password = grafana_admin_password(spec, secrets)
    planned = plan(Inputs(spec, endpoints, files, secrets, ROOT, admin_password))
    target: Target = (
        DockerTarget(spec) if spec.target == "docker" else KubernetesTarget(spec, workloads=planned)
    )
    services = {w.name: PlatformService(w.name, w, target) for w in planned}
    if spec.grafana.managed:
        _grafana_content(spec, endpoints, secrets, admin_password, services)
    return outputs(spec, files, services, admin_password)


def _grafana_auth(
    spec: PlatformSpec, secrets: Secrets, admin_password: pulumi.Output[str] | None
) -> pulumi.Input[str]:
    if spec.grafana.cloud:
        assert spec.grafana.auth_token_secret is not None  # the spec requires it for Cloud
        return secrets[spec.grafana.auth_token_secret]
    assert admin_password is not None
    return pulumi.Output.concat(spec.grafana.admin_user, ":", admin_password)


def _grafana_content(
    spec: PlatformSpec,
    endpoints: ep.Endpoints,
    secrets: Secrets,
    admin_password: pulumi.Output[str] | None,
    services: Services,
) -> GrafanaContent:
    """Grafana's content, through a provider that waits for a Grafana this stack runs."""
    grafana_service = services.get(ep.resource_name(spec, cv.Component.GRAFANA.value))
    provider = grafana_provider(
        f"{spec.name}-grafana",
        spec,
        _grafana_auth(spec, secrets, admin_password),
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


def _published(spec: PlatformSpec, service: PlatformService, port: str = "http") -> str:
    """Where a user reaches a service: on this machine for docker, in the cluster otherwise."""
    workload = service.workload
    if spec.target == "docker":
        return f"http://{spec.docker.bind_address}:{workload.publish[port]}"
    return f"http://{workload.name}.{spec.kubernetes.namespace}.svc:{workload.ports[port]}"


URL_COMPONENTS = (
    cv.Component.PROMETHEUS,
    cv.Component.ALERTMANAGER,
    cv.Component.MLFLOW,
    cv.Component.PUSHGATEWAY,
)


def outputs(
    spec: PlatformSpec,
    files: Mapping[str, str],
    services: Services,
    admin_password: pulumi.Output[str] | None,
) -> dict[str, Any]:
    """The stack outputs: where each service is reached, who administers Grafana, what was
    rendered (a digest per file, so a changed file shows in `pulumi stack output`)."""

    def url(name: str) -> str:
        return _published(spec, services[ep.resource_name(spec, name)])

    out: dict[str, Any] = {
        "environment": spec.environment,
        "target": spec.target,
        "grafanaUrl": str(spec.grafana.url).rstrip("/"),
        "grafanaContent": spec.grafana.content,
        "urls": {c.value: url(c.value) for c in URL_COMPONENTS},
        "servingUrls": {m.name: url(f"serving-{m.name}") for m in spec.serving.models},
        "grafanaAdminUser": spec.grafana.admin_user,
    }
    if admin_password is not None:
        out["grafanaAdminPassword"] = pulumi.Output.secret(admin_password)
    if spec.kubernetes.render_yaml_to is not None:
        out["renderedTo"] = spec.kubernetes.render_yaml_to
        out["secretsToProvide"] = secrets_to_provide([s.workload for s in services.values()])
    out["renderedFiles"] = {
        name: hashlib.sha256(text.encode()).hexdigest()[:16] for name, text in sorted(files.items())
    }
    return out
