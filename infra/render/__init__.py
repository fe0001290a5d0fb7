"""Pure renderers: `PlatformSpec` (+ `Endpoints`) -> the files every component runs with.

Nothing here imports Pulumi. The same files serve every target: Docker uploads
them into containers, Kubernetes mounts them from ConfigMaps, and the tests run
the real Prometheus tools and processes on them.
"""

from __future__ import annotations

from infra import conventions as cv
from infra.endpoints import Endpoints
from infra.render.alertmanager import alertmanager_config
from infra.render.prometheus import prometheus_config
from infra.render.rules import platform_rules
from infra.render.slo import slo_rules
from infra.render.telemetry import loki_config, otel_collector_config, tempo_config
from infra.spec import PlatformSpec


def render_all(spec: PlatformSpec, endpoints: Endpoints) -> dict[str, str]:
    """Every rendered file of a stack, by its path relative to the output folder. Files of
    components the endpoints leave out (the live tests run a subset) are not rendered."""
    files = {
        cv.PROMETHEUS_CONFIG: prometheus_config(spec, endpoints),
        cv.PLATFORM_RULES: platform_rules(spec),
        cv.SLO_RULES: slo_rules(spec),
        cv.ALERTMANAGER_CONFIG: alertmanager_config(spec, endpoints),
    }
    c = cv.Component
    if {c.OTEL_COLLECTOR, c.LOKI, c.TEMPO} <= endpoints.components.keys():
        files[cv.OTEL_COLLECTOR_CONFIG] = otel_collector_config(spec, endpoints)
    if c.LOKI in endpoints:
        files[cv.LOKI_CONFIG] = loki_config(spec, endpoints)
    if c.TEMPO in endpoints:
        files[cv.TEMPO_CONFIG] = tempo_config(spec, endpoints)
    return files
