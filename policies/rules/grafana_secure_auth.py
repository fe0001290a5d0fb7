"""Grafana signs people in: no default admin password, no anonymous access, no self sign-up.

On every Grafana workload (Kubernetes or docker):

- `GF_AUTH_ANONYMOUS_ENABLED` and `GF_USERS_ALLOW_SIGN_UP` are set, to false
  (set explicitly: an image or a mounted grafana.ini may turn them on);
- the admin password comes from a file (`GF_SECURITY_ADMIN_PASSWORD__FILE`) or a
  Secret (`valueFrom`), never `admin`, and is not left out (Grafana then
  creates admin/admin).

On the Grafana provider, `auth` must not be the default `admin:admin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings, is_unknown

NAME = "grafana-secure-auth"
DEFAULT_PASSWORD = "admin"  # pragma: allowlist secret (the default this policy refuses)
MUST_BE_FALSE = {
    "GF_AUTH_ANONYMOUS_ENABLED": "anonymous access",
    "GF_USERS_ALLOW_SIGN_UP": "self sign-up",
}


def judge_env(subject: str, env: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, what in MUST_BE_FALSE.items():
        value = env.get(key)
        if is_unknown(value):
            continue
        if not isinstance(value, str) or value.strip().lower() != "false":
            state = "is not set" if key not in env else f"is {value!r}"
            problems.append(
                f"{subject}: {key} {state}, so {what} depends on the image's defaults; set "
                f"{key}=false."
            )
    password = env.get("GF_SECURITY_ADMIN_PASSWORD")
    from_file = env.get("GF_SECURITY_ADMIN_PASSWORD__FILE")
    if isinstance(password, str) and password == DEFAULT_PASSWORD:
        problems.append(
            f"{subject}: the admin password is Grafana's default `admin`; leave "
            "grafana.adminPasswordSecret unset to generate one, or name a secret config key."
        )
    elif "GF_SECURITY_ADMIN_PASSWORD" not in env and not from_file:
        problems.append(
            f"{subject}: no admin password is given (GF_SECURITY_ADMIN_PASSWORD__FILE or a "
            "Secret), so Grafana creates admin/admin; mount the generated password and set "
            "GF_SECURITY_ADMIN_PASSWORD__FILE to its path."
        )
    return problems


def _is_grafana(resource_type: str, props: Props) -> bool:
    return shapes.component(resource_type, props) == cv.Component.GRAFANA


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    if resource_type == shapes.GRAFANA_PROVIDER:
        auth = props.get("auth")
        if isinstance(auth, str) and ":" in auth and auth.split(":", 1)[1] == DEFAULT_PASSWORD:
            return [
                "the Grafana provider signs in with Grafana's default admin credentials; give "
                "it the stack's own (grafana.adminPasswordSecret, or the generated one)."
            ]
        return []
    if not _is_grafana(resource_type, props):
        return []
    if resource_type == shapes.DOCKER_CONTAINER:
        envs = props.get("envs")
        if is_unknown(envs):
            return []
        return judge_env(shapes.describe(resource_type, props), shapes.docker_env(props))
    pod = shapes.pod_spec(resource_type, props)
    main = shapes.containers(pod, init=False)
    judged = [c for c in main if c.get("name") == cv.Component.GRAFANA] or main[:1]
    return [
        problem
        for container in judged
        for problem in judge_env(
            shapes.container_label(resource_type, props, container), shapes.k8s_env(container)
        )
    ]


POLICY = ResourcePolicy(
    name=NAME,
    description="Grafana has no default admin password, and anonymous access and sign-up are off.",
    resource_types=shapes.WORKLOADS | {shapes.GRAFANA_PROVIDER},
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Set GF_AUTH_ANONYMOUS_ENABLED=false, GF_USERS_ALLOW_SIGN_UP=false and "
    "GF_SECURITY_ADMIN_PASSWORD__FILE to a mounted secret.",
    tags=["security", "grafana"],
)
