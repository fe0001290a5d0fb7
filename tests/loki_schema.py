"""The fields of Loki 3.5's configuration file, for the blocks the platform renders.

Loki is AGPL-3.0, so its own `-verify-config` is never run here. This is the strict part of
that check that can be had without it: every key of the rendered `loki.yaml` must be a field
that Loki 3.5's configuration reference documents in that block, with a value of the
documented kind. A block the platform does not render is accepted as any mapping (`OPEN`).
Written from the reference, not from our renderer: a typo such as `retention_enable` fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from infra.units import duration_seconds

# Kinds of leaf values.
STR, INT, BOOL, DURATION, LIST, DATE = "string", "int", "bool", "duration", "list", "date"
OPEN: Final = "any mapping"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_RING: Final = {
    "kvstore": {"store": STR, "prefix": STR, "consul": OPEN, "etcd": OPEN, "multi": OPEN},
    "heartbeat_period": DURATION,
    "heartbeat_timeout": DURATION,
    "tokens_file_path": STR,
    "zone_awareness_enabled": BOOL,
    "instance_id": STR,
    "instance_interface_names": LIST,
    "instance_port": INT,
    "instance_addr": STR,
    "instance_availability_zone": STR,
    "instance_enable_ipv6": BOOL,
}

_S3: Final = {
    "s3": STR,
    "s3forcepathstyle": BOOL,
    "bucketnames": STR,
    "endpoint": STR,
    "region": STR,
    "access_key_id": STR,
    "secret_access_key": STR,
    "session_token": STR,
    "insecure": BOOL,
    "disable_dualstack": BOOL,
    "http_config": OPEN,
    "signature_version": STR,
    "storage_class": STR,
    "sse": OPEN,
    "backoff_config": OPEN,
}

# Top-level blocks the platform leaves at Loki's defaults.
_UNRENDERED_BLOCKS: Final = (
    "distributor", "querier", "query_scheduler", "frontend", "query_range", "ruler",
    "ruler_storage", "ingester_client", "ingester", "pattern_ingester", "index_gateway",
    "bloom_build", "bloom_gateway", "storage_config", "chunk_store_config", "frontend_worker",
    "table_manager", "memberlist", "kafka_config", "runtime_config", "operational_config",
    "tracing", "compactor_grpc_client", "ui",
)  # fmt: skip

_PERIOD_CONFIG: Final = {"prefix": STR, "period": DURATION, "tags": OPEN}

LOKI_3_5: Final[Mapping[str, Any]] = {
    "target": STR,
    "auth_enabled": BOOL,
    "ballast_bytes": INT,
    "server": {
        "http_listen_network": STR,
        "http_listen_address": STR,
        "http_listen_port": INT,
        "http_listen_conn_limit": INT,
        "grpc_listen_network": STR,
        "grpc_listen_address": STR,
        "grpc_listen_port": INT,
        "grpc_listen_conn_limit": INT,
        "proxy_protocol_enabled": BOOL,
        "tls_cipher_suites": STR,
        "tls_min_version": STR,
        "http_tls_config": OPEN,
        "grpc_tls_config": OPEN,
        "register_instrumentation": BOOL,
        "report_grpc_codes_in_instrumentation_label_enabled": BOOL,
        "graceful_shutdown_timeout": DURATION,
        "http_server_read_timeout": DURATION,
        "http_server_read_header_timeout": DURATION,
        "http_server_write_timeout": DURATION,
        "http_server_idle_timeout": DURATION,
        "http_log_closed_connections_without_response_enabled": BOOL,
        "grpc_server_max_recv_msg_size": INT,
        "grpc_server_max_send_msg_size": INT,
        "grpc_server_max_concurrent_streams": INT,
        "grpc_server_max_connection_idle": DURATION,
        "grpc_server_max_connection_age": DURATION,
        "grpc_server_max_connection_age_grace": DURATION,
        "grpc_server_keepalive_time": DURATION,
        "grpc_server_keepalive_timeout": DURATION,
        "grpc_server_min_time_between_pings": DURATION,
        "grpc_server_ping_without_stream_allowed": BOOL,
        "grpc_server_num_workers": INT,
        "log_format": STR,
        "log_level": STR,
        "log_source_ips_enabled": BOOL,
        "log_source_ips_header": STR,
        "log_source_ips_regex": STR,
        "log_request_headers": BOOL,
        "log_request_at_info_level_enabled": BOOL,
        "log_request_exclude_headers_list": STR,
        "http_path_prefix": STR,
    },
    "common": {
        "path_prefix": STR,
        "storage": {
            "s3": _S3,
            "gcs": OPEN,
            "azure": OPEN,
            "alibabacloud": OPEN,
            "bos": OPEN,
            "swift": OPEN,
            "filesystem": {"chunks_directory": STR, "rules_directory": STR},
            "hedging": OPEN,
            "congestion_control": OPEN,
            "object_prefix": STR,
        },
        "persist_tokens": BOOL,
        "replication_factor": INT,
        "ring": _RING,
        "instance_interface_names": LIST,
        "instance_addr": STR,
        "compactor_address": STR,
        "compactor_grpc_address": STR,
    },
    "schema_config": {
        "configs": [
            {
                "from": DATE,
                "store": STR,
                "object_store": STR,
                "schema": STR,
                "index": _PERIOD_CONFIG,
                "chunks": _PERIOD_CONFIG,
                "row_shards": INT,
            }
        ]
    },
    "limits_config": {
        "ingestion_rate_strategy": STR,
        "ingestion_rate_mb": INT,
        "ingestion_burst_size_mb": INT,
        "max_label_name_length": INT,
        "max_label_value_length": INT,
        "max_label_names_per_series": INT,
        "reject_old_samples": BOOL,
        "reject_old_samples_max_age": DURATION,
        "creation_grace_period": DURATION,
        "max_line_size": INT,
        "max_line_size_truncate": BOOL,
        "increment_duplicate_timestamp": BOOL,
        "discover_service_name": LIST,
        "discover_log_levels": BOOL,
        "log_level_fields": LIST,
        "max_streams_per_user": INT,
        "max_global_streams_per_user": INT,
        "unordered_writes": BOOL,
        "per_stream_rate_limit": STR,
        "per_stream_rate_limit_burst": STR,
        "max_chunks_per_query": INT,
        "max_query_series": INT,
        "max_query_lookback": DURATION,
        "max_query_length": DURATION,
        "max_query_range": DURATION,
        "max_query_parallelism": INT,
        "tsdb_max_query_parallelism": INT,
        "max_streams_matchers_per_query": INT,
        "max_concurrent_tail_requests": INT,
        "max_entries_limit_per_query": INT,
        "max_cache_freshness_per_query": DURATION,
        "max_queriers_per_tenant": INT,
        "query_timeout": DURATION,
        "split_queries_by_interval": DURATION,
        "volume_enabled": BOOL,
        "volume_max_series": INT,
        "deletion_mode": STR,
        "retention_period": DURATION,
        "retention_stream": LIST,
        "shard_streams": OPEN,
        "allow_structured_metadata": BOOL,
        "max_structured_metadata_size": STR,
        "max_structured_metadata_entries_count": INT,
        "otlp_config": OPEN,
    },
    "compactor": {
        "working_directory": STR,
        "compaction_interval": DURATION,
        "apply_retention_interval": DURATION,
        "retention_enabled": BOOL,
        "retention_delete_delay": DURATION,
        "retention_delete_worker_count": INT,
        "retention_table_timeout": DURATION,
        "retention_backoff_config": OPEN,
        "delete_request_store": STR,
        "delete_request_store_key_prefix": STR,
        "delete_request_store_db_type": STR,
        "delete_batch_size": INT,
        "delete_request_cancel_period": DURATION,
        "delete_max_interval": DURATION,
        "max_compaction_parallelism": INT,
        "upload_parallelism": INT,
        "compactor_ring": OPEN,
        "run_once": BOOL,
        "tables_to_compact": INT,
        "skip_latest_n_tables": INT,
    },
    "analytics": {
        "reporting_enabled": BOOL,
        "leader_election_enabled": BOOL,
        "usage_stats_url": STR,
    },
    **dict.fromkeys(_UNRENDERED_BLOCKS, OPEN),
}


def _leaf(kind: str, value: Any) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == LIST:
        return isinstance(value, list)
    if not isinstance(value, str):
        return False
    if kind == DURATION:
        try:
            duration_seconds(value)  # Loki reads Prometheus-style durations
        except ValueError:
            return False
        return True
    if kind == DATE:
        return bool(_DATE.fullmatch(value))
    return True


def problems(document: Any, schema: Any = LOKI_3_5, where: str = "") -> Iterator[str]:
    """Every key the reference does not have in its block, and every value of the wrong kind."""
    if schema == OPEN:
        if not isinstance(document, dict):
            yield f"{where or '.'}: must be a mapping"
        return
    if isinstance(schema, list):
        if not isinstance(document, list):
            yield f"{where}: must be a list"
            return
        for i, item in enumerate(document):
            yield from problems(item, schema[0], f"{where}[{i}]")
        return
    if isinstance(schema, dict):
        if not isinstance(document, dict):
            yield f"{where or '.'}: must be a mapping"
            return
        for key, value in document.items():
            path = f"{where}.{key}" if where else str(key)
            if key not in schema:
                yield f"{path}: not a field of this block in Loki 3.5"
            else:
                yield from problems(value, schema[key], path)
        return
    if not _leaf(schema, document):
        yield f"{where}: {document!r} is not a {schema}"
