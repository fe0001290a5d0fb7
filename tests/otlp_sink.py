"""In-process OTLP receivers on 127.0.0.1: the spans and log records a service exports, decoded.

`otlp_sink` takes OTLP/HTTP (traces and logs), as the serving API sends it;
`grpc_trace_sink` takes OTLP/gRPC traces, as the collector's `otlp/tempo`
exporter sends them: the live tests put it where Tempo would be, since Tempo
cannot be built here (the Go module proxy lists no version of
github.com/grafana/tempo).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


@dataclass
class Sink:
    url: str
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_spans(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        Span(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            {a.key: _value(a.value) for a in s.attributes},
                            str(resource.get("service.name", "")),
                            resource,
                        )
                    )
        with self._lock:
            self.spans.extend(spans)

    def of_trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@contextmanager
def otlp_sink() -> Iterator[Sink]:
    sink = Sink("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/logs":
                self._logs(body)
                return
            sink.add_spans(ExportTraceServiceRequest.FromString(body))
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
            with sink._lock:
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


@contextmanager
def grpc_trace_sink(port: int) -> Iterator[Sink]:
    """An OTLP/gRPC trace receiver on 127.0.0.1:`port` (its `url` is the host:port to dial)."""
    import grpc  # noqa: PLC0415
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc  # noqa: PLC0415

    sink = Sink(f"127.0.0.1:{port}")

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(  # noqa: N802 (the gRPC method's name)
            self, request: ExportTraceServiceRequest, context: Any
        ) -> ExportTraceServiceResponse:
            sink.add_spans(request)
            return ExportTraceServiceResponse()

    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(sink.url)
    server.start()
    try:
        yield sink
    finally:
        server.stop(grace=1).wait()
