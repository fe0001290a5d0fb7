"""Grafana dashboards as code: built from the stack's spec with grafana-foundation-sdk.

Dashboards are typed builders, not hand-written JSON, so a renamed metric, a
changed alert threshold or a new SLO reaches every panel on the next build, and
the tests can check every query against the metric catalog. Like the
renderers, nothing here imports Pulumi: `python -m dashboards` writes the JSON
files, and the Pulumi program uploads the same `build_all` output.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Final

from grafana_foundation_sdk.builders.dashboard import Dashboard as DashboardBuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import logs_traces, model_health, platform, resources, serving, slo
from dashboards.panels import numbered
from infra.spec import PlatformSpec

__all__ = ["BUILDERS", "FOLDERS", "Dashboard", "build_all", "to_json"]

# Dashboard uid -> the function that builds it from a spec.
BUILDERS: Final[MappingProxyType[str, Callable[[PlatformSpec], DashboardBuilder]]] = (
    MappingProxyType(
        {
            serving.UID: serving.serving_dashboard,
            model_health.UID: model_health.model_health_dashboard,
            slo.UID: slo.slo_dashboard,
            platform.UID: platform.platform_dashboard,
            resources.UID: resources.resources_dashboard,
            logs_traces.UID: logs_traces.logs_traces_dashboard,
        }
    )
)
# Dashboard uid -> uid of the Grafana folder it is filed in (conventions.FOLDER_UID).
FOLDERS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {
        serving.UID: serving.FOLDER,
        model_health.UID: model_health.FOLDER,
        slo.UID: slo.FOLDER,
        platform.UID: platform.FOLDER,
        resources.UID: resources.FOLDER,
        logs_traces.UID: logs_traces.FOLDER,
    }
)


def build_all(spec: PlatformSpec) -> dict[str, Dashboard]:
    """Every dashboard of a stack, by uid, with stable panel ids."""
    return {uid: numbered(build(spec).build()) for uid, build in BUILDERS.items()}


def to_json(dashboard: Dashboard) -> str:
    """The dashboard as Grafana's JSON model: sorted keys, so files diff cleanly."""
    return JSONEncoder(sort_keys=True, indent=2).encode(dashboard) + "\n"
