"""Run the real Pulumi program of a shipped stack under the mocks, and read what it declared.

The program is `infra.program`: what `infra/__main__.py` runs (`stack_inputs`, then
`declare`), called here as functions, its outputs taken from `declare`'s return.

Each stack runs with its own `Pulumi.<stack>.yaml` plus a made-up value for
every secret key it names; those values are recognisable (`SECRET_MARK`) so a
test can prove that none leaks into a non-secret place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from infra.config import NAMESPACE, ROOT, from_stack_file, load_spec, secret_keys
from infra.program import declare, stack_inputs
from infra.spec import PlatformSpec
from tests.pulumi_mocks import Mocks, Registered, resolve, run_mocked

SECRET_MARK = "zz-secret-value-"
# The Kubernetes release whose schemas kubernetes-validate checks objects against: the minor of
# the control plane the engine tier runs (tools/engine/cluster).
KUBERNETES_VERSION = "1.37.0"


def secret_value(key: str) -> str:
    return f"{SECRET_MARK}{key}"


@dataclass
class Program:
    stack: str
    spec: PlatformSpec
    mocks: Mocks
    exports: dict[str, Any]  # the stack outputs `declare` returned

    def export(self, name: str) -> tuple[Any, bool]:
        """An exported value and whether it is secret."""
        return resolve(self.exports[name])

    def of_type(self, typ: str) -> list[Registered]:
        return self.mocks.of_type(typ)


def stack_config(stack: str) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine hands it over (structured values as JSON),
    plus a value for every secret key the spec names."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    config = {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in (document.get("config") or {}).items()
    }
    spec = load_spec(from_stack_file(stack))
    secrets = [f"{NAMESPACE}:{key}" for key in secret_keys(spec)]
    config |= {key: secret_value(key.split(":", 1)[1]) for key in secrets}
    return config, secrets


def run_program(
    stack: str, config: Mapping[str, str] | None = None, secrets: list[str] | None = None
) -> Program:
    if config is None:
        config, secrets = stack_config(stack)
    declared: dict[str, Any] = {}

    def body() -> None:
        spec, values = stack_inputs()
        declared["spec"] = spec
        declared["outputs"] = declare(spec, values)

    mocks = run_mocked(body, config, secrets, stack=stack)
    return Program(stack, declared["spec"], mocks, declared["outputs"])


def walk(node: Any) -> Iterator[Any]:
    """Every value in a nested structure of dicts and lists."""
    yield node
    if isinstance(node, Mapping):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from walk(value)


def integral(node: Any) -> Any:
    """Mocked inputs come back through protobuf Structs, where every number is a float."""
    if isinstance(node, float) and node.is_integer():
        return int(node)
    if isinstance(node, Mapping):
        return {k: integral(v) for k, v in node.items()}
    if isinstance(node, list):
        return [integral(v) for v in node]
    return node


def manifest_of(resource: Registered) -> dict[str, Any]:
    """A registered Kubernetes resource as the object in API shape."""
    manifest: dict[str, Any] = integral(dict(resource.inputs))
    group_version, kind = resource.typ.removeprefix("kubernetes:").split(":")
    group, version = group_version.split("/")
    manifest["apiVersion"] = version if group == "core" else f"{group}/{version}"
    manifest["kind"] = kind
    return manifest
