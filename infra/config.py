"""From a stack's config to its `PlatformSpec`, or to one clear error naming every bad key.

Two readers feed the same loader: `from_pulumi()` inside the Pulumi engine (or
its mocks), and `from_stack_file()` for tools that run without the engine, such
as `python -m infra.render`, which need no secret values because rendered files
only point at where secrets are mounted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from infra.spec import ENVIRONMENTS, RECEIVER_KINDS, PlatformSpec
from stacks import deep_merge, profile

NAMESPACE = "mlops"
ROOT = Path(__file__).resolve().parent.parent


class SpecError(ValueError):
    """A stack's config is wrong; the message lists every problem, one per line."""

    def __init__(self, stack: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"stack {stack!r} has invalid config:\n{lines}")


@dataclass(frozen=True)
class StackConfig:
    """A stack's raw config: `namespace:key` -> value, and which keys are secrets."""

    stack: str
    values: Mapping[str, Any]
    secret_keys: frozenset[str] = field(default_factory=frozenset)


def _settings_keys() -> dict[str, str]:
    """Config key (camelCase) -> spec field, for every top-level setting."""
    return {(info.alias or name): name for name, info in PlatformSpec.model_fields.items()}


def from_stack_file(stack: str, directory: Path = ROOT) -> StackConfig:
    """Read `Pulumi.<stack>.yaml`; `secure:` values count as secrets (their values stay unknown)."""
    path = directory / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise SpecError(stack, [f"{path.name} not found in {directory}"])
    document = yaml.safe_load(path.read_text()) or {}
    raw = document.get("config") or {}
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in raw.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets.add(key)
            values[key] = None
        else:
            values[key] = value
    return StackConfig(stack, values, frozenset(secrets))


def from_pulumi() -> StackConfig:
    """The running stack's config, as the Pulumi engine (or its mocks) handed it over."""
    # Imported here: the render command and the renderers must run without Pulumi.
    import pulumi  # noqa: PLC0415
    from pulumi.runtime import config as runtime_config  # noqa: PLC0415

    values: dict[str, Any] = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    secrets = set(runtime_config.get_config_secret_keys_env())
    secrets.update(k for k in values if runtime_config.is_config_secret(k))
    return StackConfig(pulumi.get_stack(), values, frozenset(secrets))


def _decode(value: Any) -> Any:
    """The engine passes structured values as JSON text; files hold them as YAML."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _location(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in RECEIVER_KINDS:
            continue  # discriminated-union tag, not a key the user wrote
        else:
            path += f".{part}" if path else str(part)
    return path


def load_spec(config: StackConfig, *, require_secrets: bool = False) -> PlatformSpec:
    """Merge the environment profile with the stack's config and validate the result.

    `require_secrets` makes a secret reference to an unset key an error: the
    Pulumi program needs the values, the render command does not.
    """
    prefix = f"{NAMESPACE}:"
    settings = _settings_keys()
    problems: list[str] = []
    overrides: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in config.values.items():
        if not key.startswith(prefix):
            continue  # provider settings such as kubernetes:context belong to their providers
        name = key.removeprefix(prefix)
        if name not in settings:
            unknown.append(name)
        elif key in config.secret_keys:
            problems.append(
                f"{key}: holds settings, not a secret value; keep secrets in keys of their own "
                "and name those keys in the *Secret fields"
            )
        else:
            overrides[name] = _decode(value)
    environment = overrides.get("environment")
    merged: dict[str, Any] = {}
    if environment in ENVIRONMENTS:
        merged = deep_merge(profile(str(environment)), overrides)
    else:
        shown = "missing" if environment is None else f"{environment!r}"
        problems.append(f"{prefix}environment: {shown}; set it to one of {', '.join(ENVIRONMENTS)}")
    referenced = set(_secret_refs(merged))
    problems += [
        f"{prefix}{name}: not a setting, and no *Secret field names it; "
        f"allowed settings: {', '.join(sorted(settings))}"
        for name in unknown
        if name not in referenced
    ]
    if problems:
        raise SpecError(config.stack, problems)
    context = {
        "namespace": NAMESPACE,
        "present_keys": set(config.values),
        "secret_keys": set(config.secret_keys),
        "require_secrets": require_secrets,
    }
    try:
        return PlatformSpec.model_validate(merged, context=context)
    except ValidationError as err:
        raise SpecError(config.stack, _explain(err, prefix)) from None


def _secret_refs(node: Any) -> Iterable[str]:
    """Config keys named by *Secret fields anywhere in a settings tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.endswith("Secret") and isinstance(value, str):
                yield value
            else:
                yield from _secret_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _secret_refs(item)


def _explain(err: ValidationError, prefix: str) -> list[str]:
    """One line per problem, naming the key as the user wrote it. Input values are never shown:
    they could be secrets pasted into the wrong field."""
    lines = []
    errors = err.errors(include_url=False, include_input=False)
    failed = [e["loc"] for e in errors]
    for e in errors:
        if e["type"] == "too_short" and any(
            len(other) > len(e["loc"]) and other[: len(e["loc"])] == e["loc"] for other in failed
        ):
            continue  # a list emptied by its own failed items: the items' errors say it all
        where = _location(e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown key"
            parent = e["loc"][:-1]
            allowed = _allowed_keys(parent)
            if allowed:
                message += f"; allowed here: {', '.join(allowed)}"
        elif e["type"] == "missing":
            message = "required, but not set"
        lines.append(f"{prefix}{where}: {message}" if where else f"{prefix}(stack): {message}")
    return lines


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys a model at `loc` accepts, for 'unknown key' messages."""
    model: Any = PlatformSpec
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(model, type) and issubclass(model, BaseModel):
            match = next(
                (f for n, f in model.model_fields.items() if part in (f.alias, n)),
                None,
            )
            if match is None and part in RECEIVER_KINDS:
                model = RECEIVER_KINDS[str(part)]  # a discriminated-union member, named by its tag
                continue
            if match is None:
                return []
            model = _inner_model(match.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted((f.alias or n) for n, f in model.model_fields.items())
    return []


def _inner_model(annotation: Any) -> Any:
    """The model type inside Optional[...], tuple[..., ...] or dict[str, ...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


def secret_keys(spec: PlatformSpec) -> list[str]:
    """Every secret config key the spec names, in a stable order."""
    return sorted(set(_secret_refs(spec.model_dump(by_alias=True, mode="json"))))
