"""Jaeger v2 on 127.0.0.1 as the live tests' trace store, where the stacks run Tempo.

Tempo is AGPL-3.0 and never built or run here; Jaeger (Apache-2.0, built by
tools/telemetry/build.sh) is a real OTLP trace store: it receives OTLP/gRPC on the port the
collector's `otlp/tempo` exporter dials, keeps traces in memory, and answers by trace id on
its query API. Its own metrics are served where Tempo's would be, so the stack's Prometheus
scrape job for the trace store finds a target. Every listener is on 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests import servers, tools
from tests.otlp_sink import Span

STORE = "memstore"


@dataclass(frozen=True)
class Ports:
    otlp_grpc: int  # where the collector sends traces
    metrics: int  # Jaeger's own Prometheus metrics
    query_http: int
    query_grpc: int
    health: int


def config(ports: Ports) -> dict[str, Any]:
    """An all-in-one Jaeger v2 config: OTLP in, memory store, query API, all on loopback."""
    local = "127.0.0.1"
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["jaeger_storage_exporter"]}
            },
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "logs": {"level": "info"},
                "metrics": {
                    "level": "detailed",
                    "readers": [
                        {
                            "pull": {
                                "exporter": {"prometheus": {"host": local, "port": ports.metrics}}
                            }
                        }
                    ],
                },
            },
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"{local}:{ports.health}"}},
            "jaeger_storage": {"backends": {STORE: {"memory": {"max_traces": 100000}}}},
            "jaeger_query": {
                "storage": {"traces": STORE},
                "http": {"endpoint": f"{local}:{ports.query_http}"},
                "grpc": {"endpoint": f"{local}:{ports.query_grpc}"},
            },
        },
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"{local}:{ports.otlp_grpc}"}}}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": STORE}},
    }


def start(directory: Path, ports: Ports) -> servers.Server:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jaeger.yaml"
    path.write_text(yaml.safe_dump(config(ports), sort_keys=False))
    return servers.start(
        "jaeger",
        [tools.jaeger(), f"--config={path}"],
        f"http://127.0.0.1:{ports.query_http}",
        directory / "jaeger.log",
        cwd=directory,
    )


def ready_url(ports: Ports) -> str:
    return f"http://127.0.0.1:{ports.health}/status"


def trace(query_url: str, trace_id: str) -> list[Span]:
    """The stored spans of one trace (none: Jaeger does not have it), from the query API."""
    answer = httpx.get(f"{query_url}/api/v3/traces/{trace_id}", timeout=10)
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    spans = []
    for rs in answer.json()["result"]["resourceSpans"]:
        resource = _attributes(rs.get("resource", {}).get("attributes", []))
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                spans.append(
                    Span(
                        s["name"],
                        s["traceId"],
                        s["spanId"],
                        s.get("parentSpanId", ""),
                        _attributes(s.get("attributes", [])),
                        str(resource.get("service.name", "")),
                        resource,
                    )
                )
    return spans


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP/JSON attributes as plain values (int64 values come as strings in OTLP/JSON)."""
    found = {}
    for item in items:
        ((kind, value),) = item["value"].items() or [("", None)]
        found[item["key"]] = int(value) if kind == "intValue" else value
    return found
