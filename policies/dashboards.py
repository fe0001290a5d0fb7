"""Reading Grafana dashboards as the stack declares them (`grafana:oss/dashboard:Dashboard`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from policies.framework import Props, is_unknown


def model(props: Props) -> dict[str, Any] | None:
    """The dashboard's JSON model; None when unknown during preview or not JSON."""
    text = props.get("configJson")
    if is_unknown(text) or not isinstance(text, str):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def title(props: Props) -> str:
    found = model(props) or {}
    name = found.get("title") or found.get("uid") or "(untitled)"
    uid = found.get("uid")
    return f"dashboard {name!r}" + (f" (uid {uid})" if uid and uid != name else "")


def datasource_refs(node: Any) -> Iterator[str]:
    """Every datasource a dashboard model names: `{"uid": ...}` objects and legacy name strings."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "datasource":
                if isinstance(value, Mapping) and isinstance(value.get("uid"), str):
                    yield value["uid"]
                elif isinstance(value, str):
                    yield value
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_refs(value)
