"""The serving API: `bentoml serve service.app:Serving`.

Serves `models:/<name>@<alias>` from the MLflow registry and follows the alias.
Every request is validated against the served version's features before it
reaches the model; whatever a client sends gets a JSON answer, 4xx when the
input is at fault, never a 500. Predictions carry the version that made them,
and feed the ML metrics (with the number expected to be right, from the
version's calibration), the drift window, a trace and one JSON log line.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import bentoml
import numpy as np
from opentelemetry import trace
from opentelemetry.propagate import extract
from pydantic import ValidationError

from service import asgi, ml_metrics
from service.asgi import App, Message, Receive, Scope, Send
from service.catalog import REQUEST_DURATION
from service.drift_monitor import DriftMonitor
from service.feedback import OUTCOMES, FeedbackStore
from service.model_store import Loaded, ModelStore
from service.settings import ServingSettings
from service.telemetry import configure_log_export, configure_logging, configure_tracing

log = logging.getLogger("service.app")

try:
    SETTINGS = ServingSettings()  # required values come from the environment
except ValidationError as err:
    problems = "; ".join(
        f"MLOPS_SERVING_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
        for e in err.errors(include_url=False, include_input=False)
    )
    sys.exit(f"invalid serving settings: {problems}")

METRICS = ml_metrics.from_settings(SETTINGS)  # one per process, chosen once

JSON_ROUTES = {"/predict", "/feedback"}


class Rejected(Exception):  # noqa: N818 - a refusal, not an error of the service
    """A request the service refuses, with the status and the reason it is counted under."""

    def __init__(self, status: int, reason: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {"error": {"reason": self.reason, "message": str(self), **self.detail}}


class RequestGuard:
    """Refuses, before BentoML parses anything, bodies over the limit (413) and
    prediction bodies that are not a JSON object (400), in the service's own
    error format and counted by reason.

    BentoML sets no body limit of its own. Declared lengths are checked first; a
    chunked body is read up to the limit and replayed to the app.
    """

    def __init__(
        self,
        app: App,
        max_bytes: int,
        metrics: ml_metrics.Metrics,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_large = Rejected(
            413, "body_too_large", f"request body is larger than {self.max_bytes} bytes"
        )
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if scope.get("path") in JSON_ROUTES and body.strip():
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                await self._refuse(
                    send, Rejected(400, "malformed_json", "the body is not valid JSON")
                )
                return
            if not isinstance(document, dict):
                await self._refuse(
                    send,
                    Rejected(
                        400,
                        "wrong_type",
                        "the body must be a JSON object",
                    ),
                )
                return
            scope[asgi.PARSED_JSON] = document  # the API's input is made from it, not parsed again
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, rejected: Rejected) -> None:
        self.metrics.rejected_request(SETTINGS.model_name, rejected.reason)
        log.info(
            "rejected",
            extra={
                "model": SETTINGS.model_name,
                "outcome": rejected.reason,
                "status": rejected.status,
            },
        )
        payload = json.dumps(rejected.body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": rejected.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def parse_instances(instances: Any, loaded: Loaded, max_batch: int) -> np.ndarray[Any, Any]:
    """The request's rows as a float matrix, or `Rejected` saying exactly what is wrong."""
    features = loaded.features
    if instances is None:
        raise Rejected(
            400, "wrong_type", 'the body must be a JSON object {"instances": [[...], ...]}'
        )
    if not isinstance(instances, list):
        raise Rejected(
            400, "wrong_type", "instances must be a list of rows, each a list of numbers"
        )
    if not instances:
        raise Rejected(422, "empty_batch", "instances is empty: send at least one row")
    if len(instances) > max_batch:
        raise Rejected(
            422,
            "batch_too_large",
            f"{len(instances)} rows is more than the limit of {max_batch} per request",
        )
    for i, row in enumerate(instances):
        if not isinstance(row, list):
            raise Rejected(400, "wrong_type", f"row {i} is not a list of numbers", row=i)
        if len(row) != len(features):
            raise Rejected(
                422,
                "wrong_feature_count",
                f"row {i} has {len(row)} values; the model takes {len(features)}: {', '.join(features)}",
                row=i,
                features=list(features),
            )
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Rejected(
                    400,
                    "wrong_type",
                    f"row {i}, {features[j]}: expected a number",
                    row=i,
                    feature=features[j],
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise Rejected(
                    422,
                    "not_finite",
                    f"row {i}, {features[j]}: NaN and infinity are not allowed",
                    row=i,
                    feature=features[j],
                )
    try:
        return np.asarray(instances, dtype=float)
    except OverflowError:
        raise Rejected(422, "not_finite", "a value is too large for a 64-bit float") from None


asgi.install(SETTINGS.inline_budget_ms / 1000)


@bentoml.service(
    name="mlops-serving",
    traffic={"timeout": 30},
    # The service writes one JSON line per request itself, with trace and model version.
    logging={"access": {"enabled": False}},
    metrics={"duration": {"buckets": list(REQUEST_DURATION.buckets)}},
)
class Serving:
    def __init__(self) -> None:
        configure_logging(SETTINGS.log_level)
        configure_log_export(SETTINGS)
        self.tracer = configure_tracing(SETTINGS)
        self.metrics = METRICS
        self.metrics.initialise(SETTINGS.model_name)
        self.store = ModelStore(SETTINGS, self.metrics)
        self.feedback_store = FeedbackStore(SETTINGS.feedback_capacity, SETTINGS.feedback_window)
        self.store.start()
        self.drift = DriftMonitor(
            SETTINGS.model_name,
            SETTINGS.drift_window,
            SETTINGS.drift_update_seconds,
            lambda: self.store.current,
            SETTINGS.inputs_dir,
            min_rows=SETTINGS.drift_min_rows,
            metrics=self.metrics,
        )
        # The drift window feeds the PSI gauge and the inputs log: kept if either is wanted.
        self.watch_inputs = bool(SETTINGS.ml_metrics or SETTINGS.inputs_dir)
        if self.watch_inputs:
            self.drift.start()
        # BentoML looks each API up on the instance for every request, and its descriptor
        # builds the bound function anew (inspect.signature and all: ~6% of the worker's busy
        # CPU). Bound once here: BentoML calls the same function (`.local`) through it.
        for api in Serving.apis:  # type: ignore[attr-defined]
            self.__dict__[api] = getattr(self, api)

    def __is_ready__(self) -> bool:
        return self.store.current is not None

    def _child(self, name: str, parent: trace.Span) -> AbstractContextManager[trace.Span]:
        """A child span, or nothing at all when the request is not sampled (the common case)."""
        if parent.is_recording():
            return self.tracer.start_as_current_span(name)
        return nullcontext(parent)

    # A plain function: on the event loop while the model is fast, in BentoML's thread once
    # it is not (`asgi.LoopOrThread`). As a coroutine a slow model held the event loop, and
    # /metrics and the probes with it (the live tier's added-latency fault then raised
    # PlatformTargetDown).
    @bentoml.api(route="/predict")
    def predict(self, ctx: bentoml.Context, instances: Any = None) -> dict[str, Any]:
        model = SETTINGS.model_name
        parent = extract(dict(ctx.request.headers))
        with self.tracer.start_as_current_span(
            "predict", context=parent, kind=trace.SpanKind.INTERNAL
        ) as span:
            loaded = self.store.current
            try:
                if loaded is None:
                    raise Rejected(
                        503, "model_not_loaded", f"{model} is not loaded yet; retry shortly"
                    )
                with self._child("validate", span):
                    x = parse_instances(instances, loaded, SETTINGS.max_batch_size)
            except Rejected as rejected:
                return self._rejected(ctx, span, rejected, loaded)
            try:
                with self._child("inference", span) as inference:
                    index, confidence = loaded.predict(x)
                    inference.set_attribute("mlops.rows", len(x))
            except Exception as err:  # the model failed: a server error, answered in our format
                return self._model_failed(ctx, span, err, loaded)
            return self._predicted(span, loaded, x, [loaded.classes[i] for i in index], confidence)

    def _rejected(
        self,
        ctx: bentoml.Context,
        span: trace.Span,
        rejected: Rejected,
        loaded: Loaded | None,
    ) -> dict[str, Any]:
        model = SETTINGS.model_name
        self.metrics.rejected_request(model, rejected.reason)
        span.set_attribute("mlops.outcome", rejected.reason)
        ctx.response.status_code = rejected.status
        if rejected.status == 503:
            ctx.response.headers["Retry-After"] = "5"
        log.info(
            "rejected",
            extra={"model": model, "outcome": rejected.reason, "status": rejected.status,
                   "model_version": loaded.version if loaded else None},
        )  # fmt: skip
        return rejected.body()

    def _model_failed(
        self, ctx: bentoml.Context, span: trace.Span, err: Exception, loaded: Loaded
    ) -> dict[str, Any]:
        model = SETTINGS.model_name
        span.record_exception(err)
        span.set_attribute("mlops.outcome", "model_error")
        log.exception(
            "model failed",
            extra={"model": model, "outcome": "model_error", "status": 500,
                   "model_version": loaded.version},
        )  # fmt: skip
        ctx.response.status_code = 500
        return {
            "error": {
                "reason": "model_error",
                "message": f"{model} version {loaded.version} failed on this request; "
                "the failure is logged with this request's trace id",
            }
        }

    def _predicted(
        self,
        span: trace.Span,
        loaded: Loaded,
        x: np.ndarray[Any, Any],
        classes: list[str],
        confidence: np.ndarray[Any, Any],
    ) -> dict[str, Any]:
        """Records a served prediction (metrics, drift window, feedback ids) and answers it."""
        model = SETTINGS.model_name
        self.metrics.predictions(model, loaded.version, classes, confidence)
        self.metrics.expected_correct(
            model, loaded.version, loaded.calibrated, loaded.expected_correct(confidence)
        )
        if self.watch_inputs:
            self.drift.record(loaded.version, x)
        ids = [uuid.uuid4().hex for _ in classes]
        kept = self.feedback_store.record(loaded.version, ids, classes, loaded.classes)
        self.metrics.pending_labels(model, kept)
        span.set_attribute("mlops.model_version", loaded.version)
        span.set_attribute("mlops.outcome", "ok")
        log.info(
            "predicted",
            extra={
                "model": model,
                "model_version": loaded.version,
                "outcome": "ok",
                "rows": len(x),
            },
        )
        return {
            "predictions": [
                {"prediction_id": i, "class": label, "confidence": float(p)}
                for i, label, p in zip(ids, classes, confidence, strict=True)
            ],
            "model": {"name": model, "version": loaded.version, "alias": SETTINGS.model_alias},
        }

    @bentoml.api(route="/feedback")
    def feedback(self, ctx: bentoml.Context, feedback: Any = None) -> dict[str, Any]:
        """True labels for earlier predictions, by prediction id: each answered with its outcome."""
        status, body = _feedback(self, feedback)
        ctx.response.status_code = status
        return body


def parse_feedback(feedback: Any, max_items: int) -> list[tuple[str, str]]:
    """(prediction id, true label) pairs, or `Rejected` saying exactly what is wrong."""
    shape = 'the body must be {"feedback": [{"prediction_id": "...", "label": "..."}, ...]}'
    if not isinstance(feedback, list):
        raise Rejected(400, "bad_feedback", shape)
    if not feedback:
        raise Rejected(422, "bad_feedback", "feedback is empty: send at least one label")
    if len(feedback) > max_items:
        raise Rejected(
            422, "bad_feedback", f"{len(feedback)} labels is more than the limit of {max_items}"
        )
    pairs = []
    for i, item in enumerate(feedback):
        if not isinstance(item, dict) or set(item) != {"prediction_id", "label"}:
            raise Rejected(400, "bad_feedback", f"item {i}: {shape}", item=i)
        if not all(isinstance(item[k], str) and item[k] for k in ("prediction_id", "label")):
            raise Rejected(
                400, "bad_feedback", f"item {i}: prediction_id and label must be non-empty strings",
                item=i,
            )  # fmt: skip
        pairs.append((item["prediction_id"], item["label"]))
    return pairs


def _feedback(self: Serving, feedback: Any) -> tuple[int, dict[str, Any]]:
    model = SETTINGS.model_name
    try:
        pairs = parse_feedback(feedback, SETTINGS.max_batch_size)
    except Rejected as rejected:
        self.metrics.rejected_request(model, rejected.reason)
        return rejected.status, rejected.body()
    results = []
    for prediction_id, label in pairs:
        match = self.feedback_store.match(prediction_id, label)
        results.append({"prediction_id": prediction_id, "outcome": match.outcome})
        self.metrics.feedback_outcome(model, match.outcome)
        if match.version is not None and match.correct is not None:
            self.metrics.labelled_prediction(
                model, match.version, match.correct, match.accuracy or 0, match.macro_f1 or 0
            )
    self.metrics.pending_labels(model, len(self.feedback_store))
    counts = {o: sum(1 for r in results if r["outcome"] == o) for o in OUTCOMES}
    log.info("feedback", extra={"model": model, **{f"feedback_{k}": v for k, v in counts.items()}})
    return 200, {"results": results, "counts": counts}


for _spec in {api.output_spec for api in Serving.apis.values()}:  # type: ignore[attr-defined]
    asgi.answer_json_directly(_spec)

Serving.add_asgi_middleware(RequestGuard, max_bytes=SETTINGS.max_body_bytes, metrics=METRICS)  # type: ignore[attr-defined]
