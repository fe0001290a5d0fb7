"""An in-process OTLP/HTTP receiver on 127.0.0.1: the spans and log records a sender exports,
decoded.

It takes protobuf requests, gzip or not, on `<prefix>/v1/traces` and `<prefix>/v1/logs` and
answers 404 to any other path, so a sender configured with the wrong path fails visibly. The
service tests point the serving API at it; the live tests put it on Loki's port with the
prefix `/otlp` (Loki's OTLP ingestion route, where the collector's `otlphttp/loki` exporter
posts), since Loki is AGPL-3.0 and never run here (tests/loki_standin.py models what Loki
would index from each record).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    service: str
    resource: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogRecord:
    body: str
    trace_id: str
    span_id: str
    severity: str
    attributes: dict[str, Any]
    service: str
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    severity_number: int = 0
    time_ns: int = 0  # the record's time, or when it was observed when the sender set none
    flags: int = 0


@dataclass
class Sink:
    url: str
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # paths answered 404
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_spans(self, request: ExportTraceServiceRequest) -> None:
        spans = [
            Span(s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                 _attributes(s.attributes), str(resource.get("service.name", "")), resource)
            for resource, _, s in _each(request.resource_spans, "scope_spans", "spans")
        ]  # fmt: skip
        with self._lock:
            self.spans.extend(spans)

    def add_logs(self, request: ExportLogsServiceRequest) -> None:
        records = [
            LogRecord(str(_value(r.body)), r.trace_id.hex(), r.span_id.hex(), r.severity_text,
                      _attributes(r.attributes), str(resource.get("service.name", "")),
                      resource, scope.name, r.severity_number,
                      r.time_unix_nano or r.observed_time_unix_nano, r.flags)
            for resource, scope, r in _each(request.resource_logs, "scope_logs", "log_records")
        ]  # fmt: skip
        with self._lock:
            self.logs.extend(records)

    def of_trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def logs_of_trace(self, trace_id: str) -> list[LogRecord]:
        with self._lock:
            return [r for r in self.logs if r.trace_id == trace_id]

    def all_logs(self) -> list[LogRecord]:
        with self._lock:
            return list(self.logs)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _attributes(attributes: Iterable[Any]) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in attributes}


def _each(
    resources: Iterable[Any], scopes: str, items: str
) -> Iterator[tuple[dict[str, Any], Any, Any]]:
    """(resource attributes, scope, item) for every span or log record of an OTLP request."""
    for group in resources:
        resource = _attributes(group.resource.attributes)
        for scoped in getattr(group, scopes):
            for item in getattr(scoped, items):
                yield resource, scoped.scope, item


@contextmanager
def otlp_sink(port: int = 0, prefix: str = "") -> Iterator[Sink]:
    """Serve on 127.0.0.1:`port` (0: any free port); the sink's `url` is the traces URL."""
    sink = Sink("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == f"{prefix}/v1/logs":
                sink.add_logs(ExportLogsServiceRequest.FromString(body))
                self._answer(ExportLogsServiceResponse().SerializeToString())
            elif self.path == f"{prefix}/v1/traces":
                sink.add_spans(ExportTraceServiceRequest.FromString(body))
                self._answer(ExportTraceServiceResponse().SerializeToString())
            else:
                with sink._lock:
                    sink.refused.append(self.path)
                self.send_error(404, f"no OTLP route {self.path}")

        def _answer(self, payload: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}{prefix}/v1/traces"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
