"""Run the policy pack over resources the way the Pulumi CLI does, without the CLI.

The CLI hands each policy a `ResourceValidationArgs` per resource (props
behind CrossGuard's unknown-checking proxy, the policy's config properties)
and each stack policy one `StackValidationArgs`; the level a violation is
reported at comes from the `--policy-pack-config` file (a policy's own
entry, else `all`, else the policy's default). This module builds exactly
those arguments from the mocked program's resources, so the tests exercise
the same `validate` callables the pack serves.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import unknown_checking_proxy

from infra.config import ROOT
from policies.framework import Policy, ResourcePolicy, StackPolicy
from policies.registry import POLICIES
from tests.pulumi_mocks import Registered

CONFIG_DIR = ROOT / "policies" / "config"


@dataclass(frozen=True)
class Resource:
    """A resource as the engine would hand it to the pack."""

    typ: str
    name: str
    inputs: Mapping[str, Any]
    stack: str = "test"

    @property
    def urn(self) -> str:
        return f"urn:pulumi:{self.stack}::mlops::{self.typ}::{self.name}"


def from_mocks(resources: Sequence[Registered], stack: str) -> list[Resource]:
    return [Resource(r.typ, r.name, copy.deepcopy(dict(r.inputs)), stack) for r in resources]


@dataclass(frozen=True)
class Violation:
    policy: str
    level: EnforcementLevel
    message: str
    urn: str | None

    def __str__(self) -> str:
        return f"[{self.level.value}] {self.policy}: {self.message}"


@dataclass
class Reports:
    """A report_violation callable that records what it is told."""

    messages: list[tuple[str, str | None]] = field(default_factory=list)

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.messages.append((message, urn))


def load_config(stack: str) -> dict[str, Any]:
    return dict(json.loads((CONFIG_DIR / f"{stack}.json").read_text()))


def _entry(config: Mapping[str, Any], name: str) -> tuple[EnforcementLevel | None, dict[str, Any]]:
    value = config.get(name)
    if isinstance(value, str):
        return EnforcementLevel(value), {}
    if isinstance(value, Mapping):
        level = value.get("enforcementLevel")
        props = {k: v for k, v in value.items() if k != "enforcementLevel"}
        return (EnforcementLevel(level) if level else None), props
    return None, {}


def level_of(policy: Policy, config: Mapping[str, Any]) -> EnforcementLevel:
    own, _ = _entry(config, policy.name)
    if own is not None:
        return own
    if isinstance(config.get("all"), str):
        return EnforcementLevel(config["all"])
    assert policy.enforcement_level is not None
    return policy.enforcement_level


def properties_of(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    return _entry(config, policy.name)[1]


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _proxied(resource: Resource) -> Any:
    return unknown_checking_proxy(copy.deepcopy(dict(resource.inputs)))


def resource_args(
    resource: Resource, config: Mapping[str, Any] | None = None, props: Any = None
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource.typ,
        _proxied(resource) if props is None else props,
        resource.urn,
        resource.name,
        _options(),
        None,
        dict(config or {}),
    )


def stack_args(
    resources: Sequence[Resource],
    config: Mapping[str, Any] | None = None,
    props: Sequence[Any] | None = None,
) -> StackValidationArgs:
    policy_resources = [
        PolicyResource(
            r.typ,
            _proxied(r) if props is None else props[i],
            r.urn,
            r.name,
            _options(),
            None,
            None,
            [],
            {},
        )
        for i, r in enumerate(resources)
    ]
    return StackValidationArgs(policy_resources, dict(config or {}))


def run_policy(
    policy: Policy,
    resources: Sequence[Resource],
    properties: Mapping[str, Any] | None = None,
    props: Sequence[Any] | None = None,
) -> list[tuple[str, str | None]]:
    """What one policy reports over the resources: (message, urn) pairs. `props` are the
    resources' proxied inputs when the caller built them once for many policies."""
    props = props if props is not None else [_proxied(r) for r in resources]
    reports = Reports()
    if isinstance(policy, ResourcePolicy):
        for resource, resource_props in zip(resources, props, strict=True):
            before = len(reports.messages)
            policy.validate(resource_args(resource, properties, resource_props), reports)
            reports.messages[before:] = [
                (m, u if u is not None else resource.urn) for m, u in reports.messages[before:]
            ]
    else:
        assert isinstance(policy, StackPolicy)
        policy.validate(stack_args(resources, properties, props), reports)
    return reports.messages


def evaluate(
    resources: Sequence[Resource], config: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Every violation the pack reports with this policy config, as `pulumi preview` would."""
    config = config or {}
    props = [_proxied(r) for r in resources]  # policies only read them
    violations = []
    for policy in POLICIES:
        level = level_of(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue
        for message, urn in run_policy(policy, resources, properties_of(policy, config), props):
            violations.append(Violation(policy.name, level, message, urn))
    return violations


def config_path(stack: str) -> Path:
    return CONFIG_DIR / f"{stack}.json"
