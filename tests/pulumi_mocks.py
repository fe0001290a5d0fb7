"""The one set of Pulumi mocks the program tests share, and a runner for mocked programs.

`Mocks` records every registered resource (type, name, inputs, parent), answers
what providers would compute (a generated password, an image digest) and
nothing else, so tests judge what the program asked for. `run_mocked` runs a
function under the mocks with `preview=False` (so `.apply` bodies run) and
waits until every registration and output has settled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "mlops"
# How the engine marks a secret value inside resource inputs (pulumi.runtime.rpc).
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret_value(node: Any) -> bool:
    return isinstance(node, dict) and node.get(SECRET_SIG_KEY) == SECRET_SIG


def plain(node: Any) -> Any:
    """Inputs with the secret markers taken off (tests read values; `raw` keeps the marks)."""
    if is_secret_value(node):
        return plain(node["value"])
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def strings(node: Any, secret: bool = False) -> Iterator[tuple[str, bool]]:
    """Every string in raw inputs, and whether it sits inside a secret value."""
    if is_secret_value(node):
        yield from strings(node["value"], True)
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value, secret)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value, secret)
    elif isinstance(node, str):
        yield node, secret


@dataclass(frozen=True)
class Registered:
    typ: str
    name: str
    inputs: Mapping[str, Any]  # secret markers removed
    provider: str | None
    raw: Mapping[str, Any]  # as the engine received them, secrets marked


@dataclass
class Mocks(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = plain(dict(args.inputs))
        self.resources.append(
            Registered(args.typ, args.name, inputs, args.provider or None, dict(args.inputs))
        )
        outputs = dict(inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "generated-" + hashlib.sha256(args.name.encode()).hexdigest()[:24]
        if args.typ in {"docker:index/image:Image", "docker:index/remoteImage:RemoteImage"}:
            image = str(inputs.get("imageName", inputs.get("name")))
            # Docker reports an image pulled by digest under that digest, others under a new one.
            repository, _, pinned = image.partition("@")
            digest = pinned or "sha256:" + hashlib.sha256(args.name.encode()).hexdigest()
            outputs["repoDigest"] = f"{repository}@{digest}"
            outputs["imageId"] = digest
        if args.typ.startswith("kubernetes:"):
            metadata = dict(inputs.get("metadata") or {})
            metadata.setdefault("name", args.name)
            outputs["metadata"] = metadata
        return f"{args.name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise LookupError(
                f"{len(found)} resources named {name!r}; names: {sorted(r.name for r in self.resources)}"
            )
        return found[0]


def run_mocked(
    body: Callable[[], Any],
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    stack: str = "test",
) -> Mocks:
    """Run `body` under fresh mocks and wait for everything it registered."""
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(dict(config or {}), list(secret_keys or []))
    settings = pulumi.runtime.settings.SETTINGS
    settings.rpc_manager.clear()
    settings.outputs.clear()
    _sync_await(run_pulumi_func(body))
    return mocks


def resolve(output: Any) -> tuple[Any, bool]:
    """An output's value and whether it is secret (after `run_mocked` has finished)."""
    out = pulumi.Output.from_input(output)
    return _sync_await(out.future()), bool(_sync_await(out.is_secret()))
