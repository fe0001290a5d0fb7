"""Service parts in-process: settings errors, the reference and PSI, the drift window."""

from __future__ import annotations

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
