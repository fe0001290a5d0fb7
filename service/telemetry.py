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
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from service.settings import ServingSettings

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
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


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
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
    handler = LoggingHandler(logger_provider=provider)
    handler.setFormatter(JsonFormatter())
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


def configure_tracing(
    settings: ServingSettings, exporter: SpanExporter | None = None
) -> trace.Tracer:
    """A tracer exporting OTLP in batches; a no-op tracer when tracing is off."""
    if not settings.tracing:
        return trace.NoOpTracer()
    if exporter is None:
        exporter = _otlp_exporter(settings)
    provider = TracerProvider(
        resource=_resource(settings),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider.get_tracer("service.app")
