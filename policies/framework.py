"""What every policy shares: plain props, settings from policy config, and the CrossGuard glue.

A policy module writes one pure check and hands it to `ResourcePolicy` or
`StackPolicy`, which turn it into the CrossGuard object the pack serves:

- a resource check is `check(resource_type, props, settings) -> [message]`;
- a stack check is `check(resources, settings) -> [Finding(message, urn)]`.

Checks never see CrossGuard's proxies. `snapshot` turns them into plain
dicts and lists first, and replaces every value the engine cannot know yet
(during `pulumi preview`, e.g. an image digest another resource computes)
with `UNKNOWN`, so a check can skip what it cannot judge instead of failing
the whole policy for that resource.

`settings` are the policy's config properties (from the JSON file given with
`--policy-pack-config`) over the defaults of its schema. Every policy takes
`exemptions`: Pulumi resource names it skips, each with the reason, so an
exception is written down where it is granted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NotRequired, TypedDict, Unpack

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

Props = Mapping[str, Any]
Settings = Mapping[str, Any]


class Unknown:
    """A value the engine does not know yet: it is computed by another resource at deploy time."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = Unknown()
SENTINELS: Final = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def snapshot(value: Any) -> Any:
    """Plain dicts and lists from CrossGuard's props (or from plain data), unknowns as UNKNOWN."""
    if isinstance(value, str):
        return UNKNOWN if value in SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            out[str(key)] = snapshot(item)
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(snapshot(item))
        return items
    return value


EXEMPTIONS: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "default": {},
    "description": "Pulumi resource names this policy skips, each mapped to the reason.",
}


def settings_from(schema: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any]) -> Settings:
    """The schema's defaults with the policy config's values over them."""
    merged = {key: copy.deepcopy(spec.get("default")) for key, spec in schema.items()}
    merged.update({key: value for key, value in given.items() if key != "enforcementLevel"})
    return merged


ResourceCheck = Callable[[str, Props, Settings], list[str]]


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack, as a stack check sees it."""

    type: str
    name: str
    urn: str
    props: Props


@dataclass(frozen=True)
class Finding:
    """A stack check's violation: what is wrong and how to fix it, on which resource (if one)."""

    message: str
    urn: str | None = None


StackCheck = Callable[[Sequence[StackResource], Settings], list[Finding]]


class About(TypedDict):
    """What a policy says about itself, the same for both kinds."""

    name: str
    description: str
    enforcement_level: EnforcementLevel
    severity: Severity
    remediation: str
    config: NotRequired[Mapping[str, dict[str, Any]] | None]
    tags: NotRequired[Sequence[str]]


class _Configured:
    """What both kinds of policy share: a config schema with `exemptions`, and its settings."""

    schema: dict[str, dict[str, Any]]

    def _crossguard(self, validate: Callable[..., None], about: About) -> dict[str, Any]:
        """The CrossGuard constructor's arguments; keeps the schema the settings come from."""
        self.schema = {"exemptions": EXEMPTIONS, **(about.get("config") or {})}
        return {
            "name": about["name"],
            "description": about["description"],
            "validate": validate,
            "enforcement_level": about["enforcement_level"],
            "config_schema": PolicyConfigSchema(properties=self.schema),
            "severity": about["severity"],
            "remediation_steps": about["remediation"],
            "tags": list(about.get("tags", ())),
        }

    def settings(self, given: Mapping[str, Any] | None = None) -> Settings:
        return settings_from(self.schema, given or {})


class ResourcePolicy(_Configured, ResourceValidationPolicy):
    """A CrossGuard resource policy around a pure check of some resource types."""

    def __init__(
        self, *, resource_types: frozenset[str], check: ResourceCheck, **about: Unpack[About]
    ) -> None:
        self.resource_types = resource_types
        self.check = check
        super().__init__(**self._crossguard(self._validate, about))

    def _validate(self, args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in self.resource_types:
            return
        settings = self.settings(args.get_config())
        if args.name in settings["exemptions"]:
            return
        for message in self.check(args.resource_type, snapshot(args.props), settings):
            report_violation(message, None)


class StackPolicy(_Configured, StackValidationPolicy):
    """A CrossGuard stack policy around a pure check of all the stack's resources."""

    def __init__(self, *, check: StackCheck, **about: Unpack[About]) -> None:
        self.check = check
        super().__init__(**self._crossguard(self._validate, about))

    def _validate(self, args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings = self.settings(args.get_config())
        resources = [
            StackResource(r.resource_type, r.name, r.urn, snapshot(r.props))
            for r in args.resources
            if r.name not in settings["exemptions"]
        ]
        for finding in self.check(resources, settings):
            report_violation(finding.message, finding.urn)


Policy = ResourcePolicy | StackPolicy
