"""The Prometheus rule files a stack deploys, read from the resources that carry them.

Rendered rules reach Prometheus as ConfigMap keys (Kubernetes) or as files
uploaded into its container (docker); both are read here as parsed
documents, so the alert policies judge exactly what will be evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policies import shapes
from policies.framework import Props


@dataclass(frozen=True)
class RuleFile:
    where: str
    groups: list[dict[str, Any]]

    def rules(self) -> Iterator[dict[str, Any]]:
        for group in self.groups:
            for rule in shapes.as_list(group.get("rules")):
                if isinstance(rule, Mapping):
                    yield dict(rule)

    def alerts(self) -> Iterator[dict[str, Any]]:
        return (r for r in self.rules() if isinstance(r.get("alert"), str))

    def records(self) -> Iterator[dict[str, Any]]:
        return (r for r in self.rules() if isinstance(r.get("record"), str))


def rule_files(resource_type: str, props: Props) -> Iterator[RuleFile]:
    """Every YAML file of the resource that is a Prometheus rule file (`groups:` of `rules:`)."""
    for file in shapes.config_files(resource_type, props):
        if not file.name.endswith((".yml", ".yaml")):
            continue
        doc = file.document()
        if not isinstance(doc, Mapping):
            continue
        groups = doc.get("groups")
        if (
            isinstance(groups, list)
            and groups
            and all(isinstance(g, Mapping) and "rules" in g for g in groups)
        ):
            yield RuleFile(file.where, [dict(g) for g in groups])
