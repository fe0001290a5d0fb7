"""Service parts in-process: settings errors, the reference and PSI, the drift window."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from service import catalog
from service.drift_monitor import DriftMonitor
from service.ml_metrics import MlMetrics
from service.model_store import Loaded
from service.reference import Reference, feature_slug
from service.telemetry import JsonFormatter
from tests.servers import ROOT


def test_the_service_refuses_to_start_with_bad_settings_and_names_each_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_SERVING_")}
    env |= {"MLOPS_SERVING_MLFLOW_TRACKING_URI": "mlflow:5000", "MLOPS_SERVING_MAX_BATCH_SIZE": "0"}
    result = subprocess.run(
        [sys.executable, "-c", "import service.app"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "MLOPS_SERVING_MODEL_NAME: Field required" in result.stderr
    assert "MLOPS_SERVING_MLFLOW_TRACKING_URI: String should match pattern" in result.stderr
    assert (
        "MLOPS_SERVING_MAX_BATCH_SIZE: Input should be greater than or equal to 1" in result.stderr
    )


def test_feature_names_become_bounded_label_values() -> None:
    assert feature_slug("sepal length (cm)") == "sepal_length_cm"
    assert feature_slug("  Petal-Width / mm ") == "petal_width_mm"


def _reference(seed: int = 0) -> Reference:
    x = np.random.default_rng(seed).normal(0, 1, size=(5000, 2))
    return Reference.from_training(x, ["a", "b"], ("no", "yes"))


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    ref = _reference().features[0]
    same = np.random.default_rng(1).normal(0, 1, 2000)
    shifted = same + 1.5
    assert ref.psi(ref.counts(same)) < 0.02
    assert ref.psi(ref.counts(shifted)) > 1
    assert ref.psi(ref.counts([])) == 0.0
    assert sum(ref.proportions) == pytest.approx(1)


def test_the_reference_survives_a_round_trip_through_json(tmp_path: Any) -> None:
    ref = _reference()
    assert Reference.load(ref.save(tmp_path / "reference.json")) == ref
    assert len(ref.features[0].sample) == 1000


class _Model:
    def predict_proba(self, x: Any) -> Any:
        return np.tile([0.3, 0.7], (len(x), 1))


def test_the_drift_window_is_bounded_and_restarts_with_a_new_version() -> None:
    current = {"loaded": Loaded(_Model(), "1", _reference(), ("no", "yes"))}
    monitor = DriftMonitor("m", window=100, interval=60, current=lambda: current["loaded"])
    rng = np.random.default_rng(2)
    for _ in range(30):
        monitor.record("1", rng.normal(3, 1, size=(10, 2)))
    scores = monitor.update()
    assert set(scores) == {"a", "b"}
    assert min(scores.values()) > 1
    assert len(monitor._rows) == 100

    current["loaded"] = Loaded(_Model(), "2", _reference(), ("no", "yes"))
    monitor.record("1", rng.normal(3, 1, size=(10, 2)))  # in flight from the old version
    monitor.record("2", rng.normal(0, 1, size=(50, 2)))
    scores = monitor.update()
    assert len(monitor._rows) == 50
    assert max(scores.values()) < 0.3


def _psi(registry: CollectorRegistry, model: str, feature: str) -> float | None:
    return registry.get_sample_value(
        catalog.FEATURE_DRIFT_PSI.name, {"model": model, "feature": feature}
    )


def test_a_new_version_withdraws_the_old_versions_drift_until_it_has_rows_of_its_own() -> None:
    """After a rollback, the drift alert must not keep firing on the bad version's scores."""
    current = {"loaded": Loaded(_Model(), "1", _reference(), ("no", "yes"))}
    registry = CollectorRegistry()
    monitor = DriftMonitor("rollback", window=100, interval=60, current=lambda: current["loaded"],
                           min_rows=40, metrics=MlMetrics(registry))  # fmt: skip
    rng = np.random.default_rng(3)
    monitor.update()
    # Not reported before the window holds enough rows.
    assert _psi(registry, "rollback", "a") is None
    monitor.record("1", rng.normal(3, 1, size=(50, 2)))
    monitor.update()
    drifted = _psi(registry, "rollback", "a")
    assert drifted is not None
    assert drifted > 1

    current["loaded"] = Loaded(_Model(), "2", _reference(), ("no", "yes"))
    monitor.record("2", rng.normal(0, 1, size=(10, 2)))  # fewer than min_rows
    assert monitor.update() == {}
    withdrawn = _psi(registry, "rollback", "a")
    assert withdrawn is not None
    assert math.isnan(withdrawn)
    monitor.record("2", rng.normal(0, 1, size=(40, 2)))
    monitor.update()
    judged = _psi(registry, "rollback", "a")
    assert judged is not None
    assert judged < 0.3


def test_the_otlp_transport_follows_the_standard_variables_and_defaults_to_grpc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.settings import ServingSettings  # noqa: PLC0415

    monkeypatch.setenv("MLOPS_SERVING_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLOPS_SERVING_MODEL_NAME", "m")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    assert ServingSettings().otlp_protocol == "grpc"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert ServingSettings().otlp_protocol == "http/protobuf"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    assert ServingSettings().otlp_protocol == "grpc"
    monkeypatch.setenv("MLOPS_SERVING_OTLP_PROTOCOL", "http/protobuf")
    assert ServingSettings().otlp_protocol == "http/protobuf"


def _tracer(monkeypatch: pytest.MonkeyPatch, ratio: float) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    from service.settings import ServingSettings  # noqa: PLC0415
    from service.telemetry import configure_tracing  # noqa: PLC0415

    monkeypatch.setenv("MLOPS_SERVING_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("MLOPS_SERVING_MODEL_NAME", "m")
    monkeypatch.setenv("MLOPS_SERVING_TRACE_SAMPLE_RATIO", str(ratio))
    exporter = InMemorySpanExporter()
    return configure_tracing(ServingSettings(), exporter), exporter


def test_a_request_span_is_sampled_by_the_ratio_on_its_own_trace_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Decided first, as ParentBased(TraceIdRatioBased) decides: the exported spans are the
    ratio's share, each in the trace the decision was made on; an unsampled span is still
    current, with ids, for the log lines written inside it."""
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased  # noqa: PLC0415

    tracer, exporter = _tracer(monkeypatch, 0.25)
    seen = []
    for _ in range(2000):
        with tracer.start_as_current_span("predict") as span:
            current = trace.get_current_span().get_span_context()
            assert current == span.get_span_context()
            assert current.is_valid
            seen.append((current.trace_id, current.trace_flags.sampled))
    tracer.tracer.span_processor.force_flush()
    exported = {s.context.trace_id for s in exporter.get_finished_spans()}
    sampled = {trace_id for trace_id, flag in seen if flag}
    assert exported == sampled
    assert 400 < len(sampled) < 600  # 500 expected; 5.8 standard deviations either side
    bound = TraceIdRatioBased.get_bound_for_rate(0.25)
    assert all((t & TraceIdRatioBased.TRACE_ID_LIMIT < bound) == flag for t, flag in seen)


def test_a_callers_decision_and_trace_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.propagate import extract  # noqa: PLC0415

    tracer, exporter = _tracer(monkeypatch, 0.0)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    for flags, exported in (("01", 1), ("00", 0)):
        exporter.clear()
        parent = extract({"traceparent": f"00-{trace_id}-b7ad6b7169203331-{flags}"})
        with tracer.start_as_current_span("predict", context=parent) as span:
            assert format(span.get_span_context().trace_id, "032x") == trace_id
            assert trace.get_current_span() is span
        tracer.tracer.span_processor.force_flush()
        assert len(exporter.get_finished_spans()) == exported


def test_the_stdout_and_otlp_handlers_share_one_json_line_per_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    formatter, lines = JsonFormatter(), []
    line_of = formatter._line

    def counted(record: logging.LogRecord) -> str:
        lines.append(record)
        return line_of(record)

    monkeypatch.setattr(formatter, "_line", counted)
    first, second = (
        logging.LogRecord("service.app", logging.INFO, __file__, 1, message, None, None)
        for message in ("predicted", "rejected")
    )
    assert formatter.format(first) == formatter.format(first)  # the second handler's turn
    assert '"message": "rejected"' in formatter.format(second)
    assert '"message": "predicted"' in formatter.format(first)
    assert lines == [first, second, first]
