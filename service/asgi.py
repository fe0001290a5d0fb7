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
import inspect
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import opentelemetry.instrumentation.asgi as otel_asgi
from _bentoml_impl.serde import JSONSerde  # type: ignore[import-untyped]
from _bentoml_impl.server.app import ServiceAppFactory  # type: ignore[import-untyped]
from _bentoml_sdk.io_models import ARGS, KWARGS  # type: ignore[import-untyped]
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.context import trace_context
from bentoml._internal.server.http import traffic
from bentoml._internal.utils import get_original_func
from bentoml._internal.utils.http import set_cookies
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.telemetry import unsampled

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
        trace_id = caller.trace_id if caller.is_valid else _IDS.generate_trace_id()
        return _UnsampledSpan(unsampled(caller, trace_id, _IDS.generate_span_id()))


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


JSON = "application/json"


def _plain_json_api(method: Any) -> str | None:
    """How `json_endpoint` calls an API it answers as BentoML's endpoint does (one call with
    named arguments, not batched, not streamed): "await" a coroutine, "thread" a plain
    function (in BentoML's threads, as BentoML does); None for any other API."""
    fields = method.input_spec.model_fields
    func = get_original_func(method.func)
    if (
        method.batchable
        or method.is_stream
        or getattr(method.input_spec, "__root_input__", False)
        or ARGS in fields
        or KWARGS in fields
        or inspect.isgeneratorfunction(func)
        or inspect.isasyncgenfunction(func)
    ):
        return None
    return "await" if inspect.iscoroutinefunction(func) else "thread"


def json_endpoint(original: Callable[..., Awaitable[Response]]) -> Any:
    """BentoML's API endpoint, for a JSON request to a plain API (`_plain_json_api`).

    BentoML's does, per request: six imports inside the function, the API's kind worked out
    again (`inspect` on the function), the input's fields read from the instance (a pydantic
    deprecation warning raised and filtered each time): ~5% of the worker's busy CPU. The
    same steps here, the kind worked out once per API: the body validated by BentoML's
    input model (its 400 for a bad one, from BentoML's wrapper), the function called with
    the request's context, the answer made by the output spec, the context's status code,
    headers and cookies put on it. Any other request or API goes to BentoML's own."""
    plain: dict[str, str | None] = {}

    async def api_endpoint(self: Any, name: str, request: Request) -> Response:
        method = self.service.apis[name]
        if name not in plain:
            plain[name] = _plain_json_api(method)
        media_type = request.headers.get("content-type", JSON).split(";")[0].strip()
        if not plain[name] or media_type != JSON:
            return await original(self, name, request)
        serde = JSONSerde()
        data = await method.input_spec.from_http_request(request, serde)
        arguments = {field: getattr(data, field) for field in type(data).model_fields}
        ctx = self.service.context
        if method.ctx_param is not None:
            arguments[method.ctx_param] = ctx
        call = getattr(self._service_instance, name).local
        if plain[name] == "await":
            output = await call(**arguments)
        else:
            output = await self._to_thread(call, **arguments)
        response: Response = await method.output_spec.to_http_response(output, serde)
        if method.ctx_param is not None:
            response.status_code = ctx.response.status_code
            response.headers.update(ctx.response.metadata)
            set_cookies(response, ctx.response.cookies)
        return response

    return api_endpoint


def response_headers() -> Callable[[Any, Response], None]:
    """BentoML's Server, request-id and trace-id headers, its settings read on the first
    response instead of injected into every call (~2% of busy CPU)."""
    settings: dict[str, Any] = {}

    def add_response_headers(self: Any, response: Response) -> None:
        if not settings:
            settings["format"] = BentoMLContainer.logging_formatting.get()
            settings["trace_id"] = BentoMLContainer.http.response.trace_id.get()
        response.headers["Server"] = f"BentoML Service/{self.service.name}"
        if trace_context.request_id is not None:
            response.headers["X-BentoML-Request-ID"] = format(
                trace_context.request_id, settings["format"]["span_id"]
            )
        if settings["trace_id"] and trace_context.trace_id is not None:
            response.headers["X-BentoML-Trace-ID"] = format(
                trace_context.trace_id, settings["format"]["trace_id"]
            )

    return add_response_headers


def install() -> None:
    """Puts each replacement where BentoML looks it up: `ServerSpan` and `Timeout` when it
    builds the app's middlewares (at server start, after this module is imported), the
    endpoint and its response headers on the app factory's class."""
    otel_asgi.OpenTelemetryMiddleware = _server_spans  # type: ignore[misc,assignment]
    traffic.TimeoutMiddleware = Timeout  # type: ignore[misc,assignment]
    ServiceAppFactory.api_endpoint = json_endpoint(ServiceAppFactory.api_endpoint)
    ServiceAppFactory._add_response_headers = response_headers()
