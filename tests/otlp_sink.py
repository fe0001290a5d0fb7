"""An in-process OTLP/HTTP receiver on 127.0.0.1: the spans and log records a service exports, decoded."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
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


@dataclass(frozen=True)
class LogRecord:
    body: str
    trace_id: str
    span_id: str
    severity: str
    attributes: dict[str, Any]
    service: str


@dataclass
class Sink:
    url: str
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@contextmanager
def otlp_sink() -> Iterator[Sink]:
    lock = threading.Lock()
    sink = Sink("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/logs":
                self._logs(body)
                return
            request = ExportTraceServiceRequest.FromString(body)
            spans = []
            for rs in request.resource_spans:
                attrs = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        spans.append(
                            Span(
                                s.name,
                                s.trace_id.hex(),
                                s.span_id.hex(),
                                s.parent_span_id.hex(),
                                {a.key: _value(a.value) for a in s.attributes},
                                str(attrs.get("service.name", "")),
                            )
                        )
            with lock:
                sink.spans.extend(spans)
            self._answer(ExportTraceServiceResponse().SerializeToString())

        def _logs(self, body: bytes) -> None:
            request = ExportLogsServiceRequest.FromString(body)
            records = []
            for rl in request.resource_logs:
                service = str(
                    {a.key: _value(a.value) for a in rl.resource.attributes}.get("service.name", "")
                )
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        records.append(
                            LogRecord(
                                str(_value(r.body)),
                                r.trace_id.hex(),
                                r.span_id.hex(),
                                r.severity_text,
                                {a.key: _value(a.value) for a in r.attributes},
                                service,
                            )
                        )
            with lock:
                sink.logs.extend(records)
            self._answer(ExportLogsServiceResponse().SerializeToString())

        def _answer(self, payload: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
