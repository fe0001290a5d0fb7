"""No secret material in plain environment variables, ConfigMaps or world-readable files.

Plain env values and ConfigMaps are readable by anyone who can `kubectl get`
or `docker inspect` them, and are stored unencrypted in etcd. Secrets belong
in Kubernetes Secrets (mounted as files, or `valueFrom.secretKeyRef`) or, on
docker, in owner-only uploaded files; config files point at them
(`url_file`, `password_file`, `${ENV}` expansion). Flagged:

- an env variable named like a secret (PASSWORD, TOKEN, SECRET, API_KEY,
  ACCESS_KEY, PRIVATE_KEY, CREDENTIALS, ROUTING_KEY, WEBHOOK ...) with a
  literal value (names ending in _FILE hold paths and are fine);
- any env value or config file line holding secret material: a private key,
  an AWS access key, a Slack webhook or token, a GitHub token, a URL with a
  password in it;
- a key named like a secret in a YAML or JSON config file with a literal
  value rather than a file path or an `${ENV}` reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pulumi_policy import EnforcementLevel, Severity

from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings

NAME = "no-plaintext-secrets"

SECRET_ENV_NAME: Final = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|ROUTING_KEY|"
    r"SERVICE_KEY|WEBHOOK|DSN)",
    re.IGNORECASE,
)
SECRET_CONFIG_KEY: Final = re.compile(
    r"(^|_)(password|passwd|secret|token|api_?key|access_key|private_key|routing_key|"
    r"service_key|credentials?|webhook_url|api_url)$",
    re.IGNORECASE,
)
# Values that are references, not secrets: ${VAR}, $(VAR), $VAR, and paths.
REFERENCE: Final = re.compile(
    r"^(\$\{[A-Za-z_][A-Za-z0-9_:-]*\}|\$\([A-Za-z_][A-Za-z0-9_]*\)|\$[A-Za-z_][A-Za-z0-9_]*|/\S*)$"
)
MATERIAL: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9_/-]+")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a GitHub token", re.compile(r"\b(ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}")),
    ("a Grafana service-account token", re.compile(r"\bglsa_[A-Za-z0-9_]{20,}")),
    (
        "an Authorization header",
        re.compile(r"authorization\s*[=:]\s*(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.I),
    ),
    ("a password inside a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)),
)


def material(text: str) -> str | None:
    """What kind of secret material the text holds, if any."""
    for what, pattern in MATERIAL:
        if pattern.search(text):
            return what
    return None


def _literal(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not REFERENCE.match(value.strip())


def judge_env(subject: str, env: Mapping[str, Any], fix: str) -> list[str]:
    problems = []
    for name, value in sorted(env.items()):
        if not isinstance(value, str):
            continue  # from a Secret (valueFrom), or unknown during preview
        found = material(value)
        named = (
            SECRET_ENV_NAME.search(name)
            and not name.upper().endswith(("_FILE", "_PATH", "_DIR"))
            and _literal(value)
        )
        if found or named:
            problems.append(
                f"{subject}: env {name} holds {found or 'a secret'} in plain text, visible to "
                f"anyone who can read the workload; {fix}"
            )
    return problems


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every mapping entry of a parsed document."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key), value
            yield from _walk(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def judge_file(file: shapes.ConfigFile) -> list[str]:
    found = material(file.text)
    if found:
        return [
            f"{file.where}: holds {found} in plain text; move the value into a Secret (or a "
            "secret config key) and point the config at the mounted file (url_file, "
            "password_file, ...)."
        ]
    doc = file.document()
    return [
        f"{file.where}: {where} holds a literal secret; move it into a Secret mounted as a file "
        f"and use the `{key}_file` form (or an ${{ENV}} reference filled from a Secret)."
        for where, key, value in _walk(doc)
        if SECRET_CONFIG_KEY.search(key) and _literal(value)
    ]


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    problems = [p for file in shapes.config_files(resource_type, props) for p in judge_file(file)]
    if resource_type == shapes.DOCKER_CONTAINER:
        problems += judge_env(
            shapes.describe(resource_type, props),
            shapes.docker_env(props),
            "upload it as an owner-only file (permissions 0400) and point the process at it "
            "(a *_FILE variable or flag).",
        )
    elif resource_type in shapes.K8S_WORKLOADS:
        for container in shapes.containers(shapes.pod_spec(resource_type, props)):
            problems += judge_env(
                shapes.container_label(resource_type, props, container),
                shapes.k8s_env(container),
                "take it from a Secret (valueFrom.secretKeyRef, or a mounted file).",
            )
    return problems


POLICY = ResourcePolicy(
    name=NAME,
    description="No secret material in plain environment variables, ConfigMaps or "
    "world-readable uploaded files.",
    resource_types=shapes.WORKLOADS | {shapes.CONFIGMAP},
    check=check,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation="Keep secret values in secret config keys; the program puts them in Kubernetes "
    "Secrets or owner-only files and the configs reference those files.",
    tags=["security", "secrets"],
)
