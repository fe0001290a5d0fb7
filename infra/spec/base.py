"""The base every spec model shares, and the checked string types its fields are made of.

Each type checks its value once, where the config is read, so a renderer never
meets a duration it cannot parse or a name Kubernetes would refuse.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from infra.units import duration_seconds, quantity


def _check_duration(value: str) -> str:
    duration_seconds(value)
    return value


def _check_quantity(value: str) -> str:
    quantity(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
Quantity = Annotated[str, AfterValidator(_check_quantity)]
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            "must be 2 to 40 lowercase letters, digits or -, starting with a letter "
            "and not ending with - (it becomes part of resource names)"
        )
    return value


def _check_label(value: str) -> str:
    if not _LABEL_RE.match(value):
        raise ValueError(
            "must be a Prometheus label name: letters, digits and _, not starting with a digit"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
LabelName = Annotated[str, AfterValidator(_check_label)]
_MATCHER_RE = re.compile(r'^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*$')


def _check_matcher(value: str) -> str:
    if not _MATCHER_RE.match(value):
        raise ValueError(
            'must be an Alertmanager matcher such as severity="critical" or '
            'severity=~"critical|page" (label, operator = != =~ !~, quoted value)'
        )
    return value


Matcher = Annotated[str, AfterValidator(_check_matcher)]


class Spec(BaseModel):
    """Base of every spec model: frozen, strict about unknown keys, camelCase in config."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )
