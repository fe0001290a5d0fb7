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
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import opentelemetry.instrumentation.asgi as otel_asgi
from _bentoml_impl.serde import JSONSerde  # type: ignore[import-untyped]
from _bentoml_impl.server.app import (  # type: ignore[import-untyped]
    ContextMiddleware,
    ServiceAppFactory,
)
from _bentoml_sdk.io_models import ARGS, KWARGS  # type: ignore[import-untyped]
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.context import server_context, trace_context
from bentoml._internal.server.http import instruments, traffic
from bentoml._internal.utils import get_original_func
from bentoml._internal.utils.http import set_cookies
from bentoml._internal.utils.uri import join_paths
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.catalog import ENDPOINT_STATUSES, UNMATCHED_ENDPOINT
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


METRICS_PATH = "/metrics"  # BentoML never counts its own metrics page


class RequestMetrics(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's request metrics, the same series recorded at the same points, with every
    path that is not a route labelled `endpoint="other"`: BentoML labels the raw path, so
    each path a client tried would be a series of its own (and a label as long as the URL).
    The app still sees the path it was sent and answers it as before (404 for an unknown one).

    BentoML's looks each series' child up again (`.labels()`) four times a request, ~4% of
    the worker's busy CPU: here each is looked up once per endpoint and status. The service
    has no websocket route: a websocket request goes to the app (which refuses it) uncounted."""

    def __init__(self, app: App, **options: Any) -> None:
        super().__init__(app, **options)
        self._of_endpoint: dict[str, tuple[Any, Any]] = {}
        self._of_status: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        if not self._is_setup:
            self._setup()
        path = scope["path"]
        endpoint = path if path in ENDPOINT_STATUSES else UNMATCHED_ENDPOINT
        last, in_progress = self._endpoint_children(endpoint)
        if last is not None:
            last.set_to_current_time()
        start = time.perf_counter()
        status = 0

        async def timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                total, duration = self._status_children(endpoint, status)
                total.inc()
                duration.observe(max(time.perf_counter() - start, 0))
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, timed)
        finally:
            in_progress.dec()

    def _labels(self, endpoint: str) -> dict[str, str | None]:
        return {"endpoint": endpoint, "service_name": server_context.bento_name,
                "service_version": server_context.bento_version,
                "runner_name": server_context.service_name}  # fmt: skip

    def _endpoint_children(self, endpoint: str) -> tuple[Any, Any]:
        """The endpoint's last-request time (None for a skipped path) and requests in
        progress."""
        if endpoint not in self._of_endpoint:
            labels = self._labels(endpoint)
            last = self.metrics_last_request_timestamp.labels(
                **{k: v for k, v in labels.items() if k != "endpoint"}
            )
            skipped = endpoint.startswith(tuple(self.skip_paths))
            self._of_endpoint[endpoint] = (
                None if skipped else last,
                self.metrics_request_in_progress.labels(**labels),
            )
        return self._of_endpoint[endpoint]

    def _status_children(self, endpoint: str, status: int) -> tuple[Any, Any]:
        """The endpoint and status's request total and request duration."""
        key = (endpoint, status)
        if key not in self._of_status:
            labels = self._labels(endpoint) | {"http_response_code": str(status)}
            self._of_status[key] = (
                self.metrics_request_total.labels(**labels),
                self.metrics_request_duration.labels(**labels),
            )
        return self._of_status[key]


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


class LoopOrThread:
    """Where a plain (synchronous) API function runs: on the event loop while its calls end
    within `budget` seconds, in BentoML's threads once one takes longer.

    BentoML runs every synchronous API in its thread pool. The hand-over (a queue, two
    wake-ups, the GIL passed back and forth) cost ~0.26 ms of CPU per request, more than
    the small model's whole prediction; a pure-Python call holds the GIL, so the loop waits
    for it in a thread too. What a thread is for is a call that waits (I/O, a sleep, a
    library that releases the GIL): on the loop it would hold `/metrics` and the probes for
    its whole length. So the first call over `budget` moves the API to the threads, where
    each call is still timed, and `settle` calls in a row within budget bring it back: the
    loop is held past the budget by at most one call per `settle`. That call also answers
    late instead of 504 when it outlasts the request timeout (in a thread the call runs on
    too, but its request is answered at the timeout). Calls are timed by the wall clock: a
    fast call the scheduler set aside for over the budget moves the API for `settle` calls."""

    def __init__(self, budget: float, settle: int = 20) -> None:
        self.budget = budget
        self.settle = settle
        self.inline = budget > 0
        self.within = 0  # calls in a row within budget since the API moved to the threads

    async def call(
        self,
        to_thread: Callable[..., Awaitable[Any]],
        func: Callable[..., Any],
        arguments: dict[str, Any],
    ) -> Any:
        if self.inline:
            return self._timed(func, arguments)
        return await to_thread(self._timed, func, arguments)

    def _timed(self, func: Callable[..., Any], arguments: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            return func(**arguments)
        finally:
            self._took(time.perf_counter() - start)

    def _took(self, seconds: float) -> None:
        if seconds > self.budget:
            self.inline, self.within = False, 0
        elif not self.inline and self.budget > 0:
            self.within += 1
            self.inline = self.within >= self.settle


def json_endpoint(original: Callable[..., Awaitable[Response]], budget: float) -> Any:
    """BentoML's API endpoint, for a JSON request to a plain API (`_plain_json_api`).

    BentoML's does, per request: six imports inside the function, the API's kind worked out
    again (`inspect` on the function), the input's fields read from the instance (a pydantic
    deprecation warning raised and filtered each time): ~5% of the worker's busy CPU. The
    same steps here, the kind worked out once per API: the body validated by BentoML's
    input model (its 400 for a bad one, from BentoML's wrapper), the function called with
    the request's context, the answer made by the output spec, the context's status code,
    headers and cookies put on it. Any other request or API goes to BentoML's own. A
    plain function runs where `LoopOrThread` puts it, with a `budget` of seconds."""
    runs: dict[str, LoopOrThread | str | None] = {}  # per API: how its function is called

    async def api_endpoint(self: Any, name: str, request: Request) -> Response:
        method = self.service.apis[name]
        if name not in runs:
            kind = _plain_json_api(method)
            runs[name] = LoopOrThread(budget) if kind == "thread" else kind
        media_type = request.headers.get("content-type", JSON).split(";")[0].strip()
        how = runs[name]
        if how is None or media_type != JSON:
            return await original(self, name, request)
        serde = JSONSerde()
        if PARSED_JSON in request.scope:  # once is enough
            data = method.input_spec.model_validate(request.scope[PARSED_JSON])
        else:
            data = await method.input_spec.from_http_request(request, serde)
        arguments = {field: getattr(data, field) for field in type(data).model_fields}
        ctx = self.service.context
        if method.ctx_param is not None:
            arguments[method.ctx_param] = ctx
        call = getattr(self._service_instance, name).local
        if isinstance(how, LoopOrThread):
            output = await how.call(self._to_thread, call, arguments)
        else:
            output = await call(**arguments)
        response: Response = await method.output_spec.to_http_response(output, serde)
        if method.ctx_param is not None:
            response.status_code = ctx.response.status_code
            response.headers.update(ctx.response.metadata)
            set_cookies(response, ctx.response.cookies)
        return response

    return api_endpoint


PARSED_JSON = "mlops.json"  # a scope key: the request's JSON body, already parsed upstream


class DirectApis:
    """BentoML's ContextMiddleware (the request and response context an API reads), and for
    a POST to an API's route, BentoML's own API endpoint called straight from here.

    Between this middleware and the endpoint Starlette runs its exception middleware, its
    router (each route's regular expression tried in turn: `/predict` comes after BentoML's
    own pages) and its request adapter, ~9% of the worker's busy CPU; none of it changes
    what a POST to a fixed API route gets, since BentoML's endpoint wrapper answers every
    exception itself. Every other request takes the usual way."""

    def __init__(self, app: App, context: Any, factory: Any) -> None:
        self.context = context
        self.factory = factory
        self.usual = ContextMiddleware(app, context)
        service = factory.service
        self.routes = {
            join_paths(service.path_prefix, api.route): name
            for name, api in service.apis.items()
            if "{" not in api.route
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = self.routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if name is None or scope.get("method") != "POST" or scope.get("root_path"):
            await self.usual(scope, receive, send)
            return
        request = Request(scope, receive, send)
        with self.context.in_request(request):
            response = await self.factory.api_endpoint_wrapper(name, request)
            await response(scope, receive, send)


def _direct_apis(factory: Any, middlewares: list[Middleware]) -> list[Middleware]:
    """BentoML's middlewares with its ContextMiddleware replaced by `DirectApis`."""
    return [
        Middleware(DirectApis, *m.args, **{**m.kwargs, "factory": factory})
        if m.cls is ContextMiddleware
        else m
        for m in middlewares
    ]


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


def install(inline_budget: float) -> None:
    """Puts each replacement where BentoML looks it up: `ServerSpan` and `Timeout` when it
    builds the app's middlewares (at server start, after this module is imported), the
    endpoint (plain functions on the loop within `inline_budget` seconds) and its response
    headers on the app factory's class."""
    instruments.RunnerTrafficMetricsMiddleware = RequestMetrics  # type: ignore[misc,assignment]
    otel_asgi.OpenTelemetryMiddleware = _server_spans  # type: ignore[misc,assignment]
    traffic.TimeoutMiddleware = Timeout  # type: ignore[misc,assignment]
    ServiceAppFactory.api_endpoint = json_endpoint(ServiceAppFactory.api_endpoint, inline_budget)
    ServiceAppFactory._add_response_headers = response_headers()
    usual = ServiceAppFactory.middlewares
    ServiceAppFactory.middlewares = property(lambda self: _direct_apis(self, usual.fget(self)))
