"""JSON logs that carry the trace, and the OpenTelemetry tracer of the service.

Every log line is one JSON object; inside a span it carries `trace_id` and
`span_id` (hex, as Tempo and Loki's derived fields expect), so a log line links
to its trace and back. The same lines go to stdout and, over OTLP, to the
collector, which forwards them to Loki: no log agent with host access is
needed, so the pods keep the restricted profile.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased

from service.settings import ServingSettings

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON line. Shared by the stdout and the OTLP handler, which ask for the
    same record in turn: the last record's line is kept and given again."""

    def __init__(self) -> None:
        super().__init__()
        self._last: tuple[logging.LogRecord | None, str] = (None, "")

    def format(self, record: logging.LogRecord) -> str:
        last, line = self._last
        if last is not record:
            line = self._line(record)
            self._last = (record, line)
        return line

    def _line(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        entry.update(
            {
                k: v
                for k, v in record.__dict__.items()
                if k not in _RESERVED and not k.startswith("_")
            }
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


LOGGERS = ("service", "mlops")


FORMATTER = JsonFormatter()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(FORMATTER)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _resource(settings: ServingSettings) -> Resource:
    attributes = {"mlops.model": settings.model_name}
    if "OTEL_SERVICE_NAME" not in os.environ:  # the standard variable wins over our default
        attributes["service.name"] = "mlops-serving"
    return Resource.create(attributes)


def _otlp_log_exporter(settings: ServingSettings) -> LogRecordExporter:
    endpoint = settings.otlp_endpoint
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (  # noqa: PLC0415
            OTLPLogExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint, insecure=True) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # noqa: PLC0415
        OTLPLogExporter as HttpExporter,
    )

    if endpoint:
        return HttpExporter(endpoint=endpoint.removesuffix("/v1/traces") + "/v1/logs")
    return HttpExporter()


class _LineHandler(LoggingHandler):
    """The SDK's handler, each record sent as its JSON line (the body) with its trace
    context and severity, and no attributes. The SDK's would repeat every field the line
    holds (model, outcome, rows...) and the code location as attributes: encoding those was
    most of the exporter's work, ~0.15 ms of CPU a line, a fifth of a prediction's. Loki
    keeps the trace and span ids and the severity as structured metadata either way, and
    every log query reads the line (`| json`)."""

    @staticmethod
    def _get_attributes(record: logging.LogRecord) -> dict[str, Any]:
        return {}


def configure_log_export(
    settings: ServingSettings, exporter: LogRecordExporter | None = None
) -> LoggerProvider | None:
    """Send every log line, JSON as on stdout and with its trace context, over OTLP in batches."""
    if not settings.log_export:
        return None
    provider = LoggerProvider(resource=_resource(settings))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(exporter or _otlp_log_exporter(settings))
    )
    handler = _LineHandler(logger_provider=provider)
    handler.setFormatter(FORMATTER)
    for name in LOGGERS:
        logging.getLogger(name).addHandler(handler)
    return provider


def _otlp_exporter(settings: ServingSettings) -> SpanExporter:
    endpoint = settings.otlp_endpoint
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint, insecure=True) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=endpoint) if endpoint else HttpExporter()


class _ChosenTraceIds(RandomIdGenerator):
    """Random ids, except a trace id chosen beforehand for the next span on this thread."""

    def __init__(self) -> None:
        self._chosen = threading.local()

    def choose(self, trace_id: int) -> None:
        self._chosen.trace_id = trace_id

    def generate_trace_id(self) -> int:
        chosen = getattr(self._chosen, "trace_id", None)
        self._chosen.trace_id = None
        return chosen if chosen is not None else super().generate_trace_id()


def unsampled(parent: trace.SpanContext, trace_id: int, span_id: int) -> trace.SpanContext:
    """The context the SDK gives a span it does not sample: in its parent's trace (and trace
    state) when there is one, else in `trace_id`; a span id of its own; not sampled."""
    return trace.SpanContext(
        parent.trace_id if parent.is_valid else trace_id,
        span_id,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
        trace_state=parent.trace_state if parent.is_valid else None,
    )


class SampledFirst:
    """The service's tracer, deciding first whether a span is sampled, as its sampler would
    (`ParentBased(TraceIdRatioBased(ratio))`: a parent's decision, else the ratio on the
    trace id). A sampled span is the SDK's, in the trace the decision was made on. An
    unsampled one (nine in ten at the platform's 10%) is what the SDK would make of it, a
    current `NonRecordingSpan` with its trace and span ids, without the SDK's span
    machinery, which cost ~5% of the serving worker's busy CPU."""

    def __init__(self, tracer: trace.Tracer, ratio: float, ids: _ChosenTraceIds) -> None:
        self.tracer = tracer
        self.root = TraceIdRatioBased(ratio)
        self.ids = ids

    @contextmanager
    def start_as_current_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    ) -> Iterator[trace.Span]:
        parent = trace.get_current_span(context).get_span_context()
        trace_id = parent.trace_id if parent.is_valid else self.ids.generate_trace_id()
        if parent.is_valid:
            sampled = parent.trace_flags.sampled
        else:
            decision = self.root.should_sample(None, trace_id, name).decision
            sampled = decision == Decision.RECORD_AND_SAMPLE
        if sampled:
            if not parent.is_valid:
                self.ids.choose(trace_id)
            with self.tracer.start_as_current_span(name, context=context, kind=kind) as span:
                yield span
            return
        span = trace.NonRecordingSpan(unsampled(parent, trace_id, self.ids.generate_span_id()))
        token = otel_context.attach(trace.set_span_in_context(span, context))
        try:
            yield span
        finally:
            otel_context.detach(token)


def configure_tracing(
    settings: ServingSettings, exporter: SpanExporter | None = None
) -> SampledFirst | trace.Tracer:
    """A tracer exporting OTLP in batches; a no-op tracer when tracing is off."""
    if not settings.tracing:
        return trace.NoOpTracer()
    if exporter is None:
        exporter = _otlp_exporter(settings)
    ids = _ChosenTraceIds()
    provider = TracerProvider(
        resource=_resource(settings),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
        id_generator=ids,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return SampledFirst(provider.get_tracer("service.app"), settings.trace_sample_ratio, ids)
