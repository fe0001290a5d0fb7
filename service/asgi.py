"""BentoML's request path without its per-request waste, the same requests and answers.

`bentoml serve` wraps every request in middlewares whose work nobody sees here: an
OpenTelemetry ASGI middleware for a tracer that samples nothing, a timeout that starts a
task and leaves a timer behind, a JSON schema built for every response. Each piece below
does what BentoML's does, as far as a client, a log line or a metric can tell, for less;
`install()` puts them where BentoML looks them up when it builds the app. Measured with
py-spy and in-process CPU time: README, "Serving speed".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import opentelemetry.instrumentation.asgi as otel_asgi
from _bentoml_impl.serde import JSONSerde  # type: ignore[import-untyped]
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.server.http import traffic
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from starlette.responses import JSONResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServerSpan:
    """BentoML's server span, without the work nobody sees.

    BentoML's own tracer samples nothing and exports nowhere unless BentoML's tracing is
    configured (the service sends its own spans), yet OpenTelemetry's ASGI middleware, which
    BentoML puts on every request, cost ~13% of the worker's busy CPU: request attributes,
    a child span per ASGI message, metric records. This keeps what can be observed: the
    caller's context extracted, a server span current for the request (a log line written
    inside it, a 413 say, carries its trace id) and BentoML's request id."""

    def __init__(
        self,
        app: App,
        tracer_provider: trace.TracerProvider,
        excluded_urls: Any = None,
        server_request_hook: Callable[[trace.Span, Scope], None] | None = None,
        **_: Any,
    ) -> None:
        self.app = app
        self.tracer = tracer_provider.get_tracer(otel_asgi.__name__)
        self.excluded_urls = excluded_urls
        self.server_request_hook = server_request_hook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.excluded_urls and self._excluded(scope)):
            await self.app(scope, receive, send)
            return
        parent = extract(scope, getter=otel_asgi.asgi_getter)  # type: ignore[misc]
        span = self._span(scope, parent)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            if self.server_request_hook is not None:
                self.server_request_hook(span, scope)
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
            span.end()

    def _excluded(self, scope: Scope) -> bool:
        _, _, url = otel_asgi.get_host_port_url_tuple(scope)  # type: ignore[no-untyped-call]
        return bool(self.excluded_urls.url_disabled(url))

    def _span(self, scope: Scope, parent: otel_context.Context) -> trace.Span:
        """A span as BentoML's tracer makes it when its tracing is not configured (its
        sampler samples none of its own and no processor sees them), without the SDK's
        machinery: in the caller's trace or a new one, never sampled. A caller's sampled
        trace gets the SDK's span, as before."""
        caller = trace.get_current_span(parent).get_span_context()
        if caller.is_valid and caller.trace_flags.sampled:
            name, _ = otel_asgi.get_default_span_details(scope)  # type: ignore[arg-type]
            return self.tracer.start_span(name, context=parent, kind=trace.SpanKind.SERVER)
        return _UnsampledSpan(
            trace.SpanContext(
                caller.trace_id if caller.is_valid else _IDS.generate_trace_id(),
                _IDS.generate_span_id(),
                is_remote=False,
                trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
                trace_state=caller.trace_state if caller.is_valid else None,
            )
        )


class _UnsampledSpan(trace.NonRecordingSpan):
    @property
    def context(self) -> trace.SpanContext:  # what BentoML's request hook reads, as on SDK spans
        return self.get_span_context()


_IDS = RandomIdGenerator()
_OTEL_MIDDLEWARE = otel_asgi.OpenTelemetryMiddleware


def _server_spans(app: App, **options: Any) -> Any:
    """OpenTelemetry's middleware where BentoML's own tracing exports spans, else `ServerSpan`."""
    if BentoMLContainer.tracing.exporter_type.get():
        return _OTEL_MIDDLEWARE(app, **options)
    return ServerSpan(app, **options)


class Timeout:
    """BentoML's request timeout: a request whose answer has not started within `timeout`
    seconds is cancelled and answered 504 with BentoML's JSON body; once the answer has
    started, it runs to its end.

    BentoML's own runs the app in a task of its own and schedules a timer per request that
    it never cancels (each lingers in the loop's heap for the whole timeout). Here the app
    runs in the request's own task under `asyncio.timeout`, whose deadline is lifted when
    the answer starts and dropped when the request ends."""

    def __init__(self, app: App, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        deadline = asyncio.timeout(self.timeout)

        async def started(message: Message) -> None:
            if deadline.when() is not None:
                deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, started)
        except TimeoutError:
            if not deadline.expired():
                raise  # the app's own, not the deadline's
            answer = {"error": f"Not able to process the request in {self.timeout} seconds"}
            await JSONResponse(answer, status_code=504)(scope, receive, send)


def answer_json_directly(output_spec: Any) -> None:
    """BentoML derives a response's media type from its output type's JSON schema, built anew
    (with a pydantic TypeAdapter) for every response: ~11% of the worker's busy CPU; ours is
    always JSON, said once. It then validates the dict again, dumps it (`json.dumps`, as
    here) and sends it chunked, in three ASGI messages through every middleware: a JSON
    answer is sent as one body with its length instead, the same bytes."""
    output_spec.media_type = "application/json"
    original = output_spec.to_http_response

    async def to_http_response(cls: Any, obj: Any, serde: Any) -> Any:
        if isinstance(serde, JSONSerde) and isinstance(obj, dict):
            return Response(json.dumps(obj).encode(), media_type="application/json")
        return await original(obj, serde)

    output_spec.to_http_response = classmethod(to_http_response)


def install() -> None:
    """Puts `ServerSpan` and `Timeout` where BentoML imports its middlewares from when it
    builds the app (at server start, after this module is imported)."""
    otel_asgi.OpenTelemetryMiddleware = _server_spans  # type: ignore[misc,assignment]
    traffic.TimeoutMiddleware = Timeout  # type: ignore[misc,assignment]
