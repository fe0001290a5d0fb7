"""Prometheus, Loki and Tempo say how long they keep data.

Without it, disks fill or data lives forever: Loki keeps logs forever unless
the compactor's retention is on, Tempo silently uses 14 days, Prometheus 15.
Judged on what the stack deploys:

- Prometheus: the workload's `--storage.tsdb.retention.time` flag, non-zero;
- Loki: its config file (a ConfigMap key, or the file uploaded into the
  docker container) has `compactor.retention_enabled: true` and a non-zero
  `limits_config.retention_period`;
- Tempo: its config file has a non-zero `compactor.compaction.block_retention`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from infra import conventions as cv
from policies import shapes
from policies.framework import Props, ResourcePolicy, Settings

NAME = "retention-configured"
C = cv.Component
ZERO = re.compile(r"^0+(\.0+)?[a-z]*$")


def _duration_set(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not ZERO.match(value.strip())


LOKI_KEYS = frozenset({"schema_config", "limits_config", "compactor", "common", "storage_config"})
TEMPO_KEYS = frozenset({"distributor", "compactor", "storage", "ingester", "metrics_generator"})


def _kind(component: str | None, doc: Mapping[str, Any]) -> str | None:
    """Whether a config document is Loki's or Tempo's: by the workload's label and the
    document's top-level sections, else by sections only one of them has."""
    keys = set(doc)
    if component == C.LOKI and keys & LOKI_KEYS:
        return C.LOKI.value
    if component == C.TEMPO and keys & TEMPO_KEYS:
        return C.TEMPO.value
    if "schema_config" in keys or {"limits_config", "compactor"} <= keys:
        return C.LOKI.value
    if (
        "distributor" in keys
        and isinstance(doc.get("storage"), Mapping)
        and "trace" in doc["storage"]
    ):
        return C.TEMPO.value
    return None


def judge_config(where: str, kind: str, doc: Mapping[str, Any]) -> list[str]:
    if kind == C.LOKI:
        problems = []
        if shapes.dig(doc, "compactor", "retention_enabled") is not True:
            problems.append(
                f"{where}: Loki's compactor does not apply retention (compactor.retention_enabled "
                "is not true), so logs are kept forever; enable it with a "
                "delete_request_store (the stack's loki.retention drives it)."
            )
        if not _duration_set(shapes.dig(doc, "limits_config", "retention_period")):
            problems.append(
                f"{where}: Loki has no limits_config.retention_period, so nothing is ever "
                "deleted; set it (loki.retention in the stack's config, 24h or more)."
            )
        return problems
    if not _duration_set(shapes.dig(doc, "compactor", "compaction", "block_retention")):
        return [
            f"{where}: Tempo has no compactor.compaction.block_retention and silently keeps "
            "traces 14 days; set it (tempo.retention in the stack's config)."
        ]
    return []


def _prometheus(resource_type: str, props: Props) -> list[str]:
    problems = []
    for args in shapes.workload_args(resource_type, props):
        retention = shapes.flag(args, "--storage.tsdb.retention.time")
        if not _duration_set(retention):
            problems.append(
                f"{shapes.describe(resource_type, props)}: Prometheus runs without "
                "--storage.tsdb.retention.time and keeps the default 15d whatever its volume "
                "holds; pass the retention (prometheus.retentionTime in the stack's config)."
            )
    return problems


def check(resource_type: str, props: Props, settings: Settings) -> list[str]:
    component = shapes.component(resource_type, props)
    problems = []
    if component == C.PROMETHEUS and resource_type in shapes.WORKLOADS:
        problems += _prometheus(resource_type, props)
    for file in shapes.config_files(resource_type, props):
        if not file.name.endswith((".yaml", ".yml")):
            continue
        doc = file.document()
        if isinstance(doc, Mapping):
            kind = _kind(component, doc)
            if kind is not None:
                problems += judge_config(file.where, kind, doc)
    return problems


POLICY = ResourcePolicy(
    name=NAME,
    description="Prometheus, Loki and Tempo each run with an explicit retention.",
    resource_types=shapes.WORKLOADS | {shapes.CONFIGMAP},
    check=check,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation="Set prometheus.retentionTime, loki.retention and tempo.retention in the "
    "stack's config; the rendered files and flags carry them.",
    tags=["reliability", "data"],
)
