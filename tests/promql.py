"""PromQL helpers shared by the tests of rendered rules and of dashboards."""

from __future__ import annotations

from typing import Any

import promql_parser


def selectors(expr: str) -> list[str]:
    """Names of the metrics an expression selects, in order; raises ValueError if it does not parse."""
    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.append(node.name)
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                visit(child)
        for arg in getattr(node, "args", None) or []:
            visit(arg)

    visit(promql_parser.parse(expr))
    return names
