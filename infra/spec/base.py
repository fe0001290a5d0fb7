"""The base every spec model shares, and the checked string types its fields are made of.

Each type checks its value once, where the config is read, so a renderer never
meets a duration it cannot parse or a name Kubernetes would refuse.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from infra.spec.secret_refs import refuse_plaintext_secrets
from infra.units import duration_seconds, quantity


def _check_duration(value: str) -> str:
    duration_seconds(value)
    return value


def _check_quantity(value: str) -> str:
    quantity(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
Quantity = Annotated[str, AfterValidator(_check_quantity)]


def _matching(pattern: str, problem: str) -> AfterValidator:
    """A check that the whole value matches `pattern`, refused with `problem` otherwise."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(problem)
        return value

    return AfterValidator(check)


Name = Annotated[
    str,
    _matching(
        r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$",
        "must be 2 to 40 lowercase letters, digits or -, starting with a letter "
        "and not ending with - (it becomes part of resource names)",
    ),
]
LabelName = Annotated[
    str,
    _matching(
        r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        "must be a Prometheus label name: letters, digits and _, not starting with a digit",
    ),
]
Matcher = Annotated[
    str,
    _matching(
        r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$',
        'must be an Alertmanager matcher such as severity="critical" or '
        'severity=~"critical|page" (label, operator = != =~ !~, quoted value)',
    ),
]


def refuse_repeats(what: str, names: Iterable[str]) -> None:
    """Names that must be unique in their list, such as models, receivers and SLOs."""
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    if dupes:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")


def refuse_half_pair(first: tuple[str, object], second: tuple[str, object]) -> None:
    """Two settings that make sense only together: both set, or neither."""
    if (first[1] is None) != (second[1] is None):
        raise ValueError(f"{first[0]} and {second[0]} go together")


class Spec(BaseModel):
    """Base of every spec model: frozen, strict about unknown keys, camelCase in config, and
    refusing the keys in `plaintext_secrets`, which would hold a secret in plain text."""

    plaintext_secrets: ClassVar[tuple[str, ...]] = ()

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _no_plaintext(cls, data: Any) -> Any:
        return refuse_plaintext_secrets(data, cls.plaintext_secrets)
