"""Configs of the trace and log path: OpenTelemetry Collector -> Tempo and Loki.

The collector is the single telemetry ingress: services send OTLP to it, it
batches under a memory limit and forwards traces to Tempo (OTLP gRPC) and logs
to Loki's native OTLP endpoint. Tempo's metrics generator derives span metrics
and a service graph and remote-writes them to Prometheus, with exemplars.
Object-store credentials are never rendered: Loki and Tempo expand them from
environment variables that the Pulumi program fills from Secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra import conventions as cv
from infra import layout
from infra.endpoints import Endpoints
from infra.render._yaml import dump
from infra.spec import ObjectStorage, PlatformSpec
from infra.units import duration_seconds, format_duration

C = cv.Component
S3_ACCESS_KEY_ENV = "S3_ACCESS_KEY_ID"
S3_SECRET_KEY_ENV = "S3_SECRET_ACCESS_KEY"
LOKI_DATA = layout.of(C.LOKI).data()  # Loki's volume in its container
TEMPO = layout.of(C.TEMPO)


def _header(spec: PlatformSpec, what: str) -> str:
    return f"{what} of stack {spec.name}. Rendered by infra.render; do not edit."


def _otel_receivers(listen: str, ports: Mapping[str, int]) -> dict[str, Any]:
    protocols = {
        "grpc": {"endpoint": f"{listen}:{ports['otlp-grpc']}"},
        "http": {"endpoint": f"{listen}:{ports['otlp-http']}"},
    }
    return {"otlp": {"protocols": protocols}}


def _otel_processors(spec: PlatformSpec) -> dict[str, Any]:
    oc = spec.otel_collector
    environment = {"key": "deployment.environment.name", "value": spec.environment}
    return {
        "memory_limiter": {
            "check_interval": "1s",
            "limit_mib": oc.memory_limit_mib,
            "spike_limit_mib": max(oc.memory_limit_mib // 5, 8),
        },
        "resource": {"attributes": [{**environment, "action": "upsert"}]},
        "batch": {"timeout": oc.batch_timeout, "send_batch_size": oc.batch_size},
    }


def _otel_exporters(endpoints: Endpoints) -> dict[str, Any]:
    return {
        "otlp/tempo": {
            "endpoint": endpoints[C.TEMPO].address("otlp-grpc"),
            "tls": {"insecure": True},
        },
        "otlphttp/loki": {"endpoint": endpoints[C.LOKI].url("http", "/otlp")},
    }


def _otel_service(listen: str, ports: Mapping[str, int]) -> dict[str, Any]:
    """The collector's own telemetry (JSON logs, metrics to scrape) and its two pipelines."""
    reader = {"pull": {"exporter": {"prometheus": {"host": listen, "port": ports["metrics"]}}}}

    def pipeline(exporter: str) -> dict[str, Any]:
        return {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "resource", "batch"],
            "exporters": [exporter],
        }

    return {
        "extensions": ["health_check"],
        "telemetry": {
            "logs": {"encoding": "json"},
            "metrics": {"level": "detailed", "readers": [reader]},
        },
        "pipelines": {"traces": pipeline("otlp/tempo"), "logs": pipeline("otlphttp/loki")},
    }


def otel_collector_config(spec: PlatformSpec, endpoints: Endpoints) -> str:
    listen = endpoints.listen_host
    ports = endpoints[C.OTEL_COLLECTOR].ports
    document: dict[str, Any] = {
        "extensions": {"health_check": {"endpoint": f"{listen}:{ports['health']}"}},
        "receivers": _otel_receivers(listen, ports),
        "processors": _otel_processors(spec),
        "exporters": _otel_exporters(endpoints),
        "service": _otel_service(listen, ports),
    }
    return dump(document, _header(spec, "OpenTelemetry Collector configuration"))


def _s3(storage: ObjectStorage) -> dict[str, Any]:
    return {
        "endpoint": storage.endpoint,
        "bucket": storage.bucket,
        "access_key": f"${{{S3_ACCESS_KEY_ENV}}}",
        "secret_key": f"${{{S3_SECRET_KEY_ENV}}}",
    }


def _server(endpoints: Endpoints, ports: Mapping[str, int]) -> dict[str, Any]:
    """The `server` block Loki and Tempo share (both build on Grafana's dskit)."""
    return {
        "http_listen_address": endpoints.listen_host,
        "http_listen_port": ports["http"],
        "grpc_listen_address": endpoints.listen_host,
        "grpc_listen_port": ports["grpc"],
        "log_format": "json",
    }


def loki_config(spec: PlatformSpec, endpoints: Endpoints) -> str:
    ports = endpoints[C.LOKI].ports
    storage = spec.loki.storage
    data = endpoints.path(LOKI_DATA)
    common_storage: dict[str, Any]
    if storage.kind == "s3":
        s3 = _s3(storage)
        common_storage = {
            "s3": {
                "endpoint": s3["endpoint"],
                "bucketnames": s3["bucket"],
                "access_key_id": s3["access_key"],
                "secret_access_key": s3["secret_key"],
                "s3forcepathstyle": True,
            }
        }
    else:
        common_storage = {
            "filesystem": {"chunks_directory": f"{data}/chunks", "rules_directory": f"{data}/rules"}
        }
    common: dict[str, Any] = {
        "path_prefix": data,
        "replication_factor": 1,
        "ring": {"kvstore": {"store": "inmemory"}},
        "storage": common_storage,
    }
    if endpoints.listen_host != "0.0.0.0":
        # Bound to one address (the live tests: 127.0.0.1), Loki must also advertise it in
        # its ring: by default it advertises its network interface's, which nothing serves.
        common["instance_addr"] = endpoints.listen_host
    document: dict[str, Any] = {
        "auth_enabled": False,
        "server": _server(endpoints, ports),
        "common": common,
        "schema_config": {
            "configs": [
                {
                    "from": "2025-01-01",
                    "store": "tsdb",
                    "object_store": storage.kind,
                    "schema": "v13",
                    "index": {"prefix": "index_", "period": "24h"},
                }
            ]
        },
        "limits_config": {
            "retention_period": format_duration(duration_seconds(spec.loki.retention)),
            "allow_structured_metadata": True,
            "volume_enabled": True,
        },
        "compactor": {
            "working_directory": f"{data}/compactor",
            "retention_enabled": True,
            "delete_request_store": storage.kind,
        },
        "analytics": {"reporting_enabled": False},
    }
    return dump(document, _header(spec, "Loki configuration"))


def tempo_config(spec: PlatformSpec, endpoints: Endpoints) -> str:
    ports = endpoints[C.TEMPO].ports
    storage = spec.tempo.storage
    trace_storage: dict[str, Any] = {"wal": {"path": TEMPO.data("wal")}}
    if storage.kind == "s3":
        trace_storage |= {"backend": "s3", "s3": {**_s3(storage), "forcepathstyle": True}}
    else:
        trace_storage |= {"backend": "local", "local": {"path": TEMPO.data("blocks")}}
    document: dict[str, Any] = {
        "server": _server(endpoints, ports),
        "distributor": {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"{endpoints.listen_host}:{ports['otlp-grpc']}"}
                    }
                }
            }
        },
        "compactor": {
            "compaction": {
                "block_retention": format_duration(duration_seconds(spec.tempo.retention))
            }
        },
        "storage": {"trace": trace_storage},
        "usage_report": {"reporting_enabled": False},
    }
    if spec.tempo.metrics_generator:
        document["metrics_generator"] = {
            "registry": {"external_labels": {"source": "tempo", "environment": spec.environment}},
            "storage": {
                "path": TEMPO.data("generator", "wal"),
                # To each Prometheus replica: through the Service, each would get a share.
                "remote_write": [
                    {"url": replica.url("http", "/api/v1/write"), "send_exemplars": True}
                    for replica in endpoints[C.PROMETHEUS].replicas
                ],
            },
            "traces_storage": {"path": TEMPO.data("generator", "traces")},
        }
        document["overrides"] = {
            "defaults": {"metrics_generator": {"processors": ["service-graphs", "span-metrics"]}}
        }
    return dump(document, _header(spec, "Tempo configuration"))
