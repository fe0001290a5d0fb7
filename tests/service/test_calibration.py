"""The calibration in-process: the stored form, the binned ECE, the fit on iris, and a version
registered without one still serving."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service import calibration as cal
from service.calibration import Calibration
from service.ml_metrics import NO_ML_METRICS
from service.model_store import Loaded, ModelStore
from service.reference import Reference
from service.settings import ServingSettings
from service.train import calibrate, dataset, pipeline


def test_the_calibration_interpolates_between_its_thresholds_and_is_flat_beyond_them() -> None:
    calibration = Calibration((0.4, 0.6, 0.9), (0.5, 0.7, 1.0))
    assert calibration([0.1, 0.4, 0.5, 0.75, 0.9, 1.0]).tolist() == pytest.approx(
        [0.5, 0.5, 0.6, 0.85, 1.0, 1.0]
    )


def test_the_calibration_survives_a_round_trip_through_plain_json(tmp_path: Path) -> None:
    calibration = Calibration((0.4, 0.6, 0.9), (0.5, 0.7, 1.0))
    path = tmp_path / cal.ARTIFACT
    path.write_text(json.dumps(calibration.to_dict()))
    assert json.loads(path.read_text()) == {
        "method": "isotonic",
        "x": [0.4, 0.6, 0.9],
        "y": [0.5, 0.7, 1.0],
    }
    assert Calibration.load(path) == calibration


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"method": "isotonic", "x": [], "y": []}, "non-empty"),
        ({"method": "isotonic", "x": [0.5, 0.6], "y": [0.5]}, "same length"),
        ({"method": "isotonic", "x": [0.6, 0.5], "y": [0.5, 0.6]}, "ascending"),
        ({"method": "isotonic", "x": [0.5, 0.6], "y": [0.6, 0.5]}, "non-decreasing"),
        ({"method": "isotonic", "x": [0.5, 0.6], "y": [0.5, 1.5]}, r"\[0, 1\]"),
        ({"method": "isotonic", "x": [0.5, float("nan")], "y": [0.5, 0.6]}, "finite"),
        ({"method": "platt", "x": [0.5], "y": [0.5]}, "unknown calibration method"),
    ],
    ids=["empty", "ragged", "x descending", "y decreasing", "y above 1", "nan", "other method"],
)
def test_a_calibration_that_is_not_one_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(data)


def test_the_ece_is_zero_when_confidence_is_accuracy_and_the_gap_when_it_is_not() -> None:
    confidence = [0.75] * 4 + [0.25] * 4
    assert cal.expected_calibration_error(confidence, [1, 1, 1, 0, 1, 0, 0, 0]) == 0
    # Every prediction at 0.95 and half of them right: a gap of 0.45.
    assert cal.expected_calibration_error([0.95] * 10, [1, 0] * 5) == pytest.approx(0.45)
    assert cal.expected_calibration_error([], []) == 0


def test_the_fit_is_non_decreasing_and_maps_confidence_to_how_often_it_was_right() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.34, 1, 20_000)
    correct = rng.random(20_000) < confidence**2  # overconfident: right less often than claimed
    fitted = cal.fit(confidence, correct)
    assert list(fitted.y) == sorted(fitted.y)
    grid = np.array([0.5, 0.7, 0.9])
    assert fitted(grid).tolist() == pytest.approx((grid**2).tolist(), abs=0.05)


def test_with_a_prior_two_low_confidence_errors_no_longer_read_never_right() -> None:
    confidence, correct = [0.5, 0.5] + [0.95] * 200, [0, 0] + [1] * 200
    assert cal.fit(confidence, correct)([0.4, 0.5]).tolist() == [0, 0]
    with_prior = cal.fit(confidence, correct, prior=20, classes=3)
    # Pulled toward what the model claims where data are few, not where they are many.
    assert with_prior([0.4, 0.5]).tolist() == pytest.approx([0.3, 0.3], abs=0.05)
    assert with_prior([0.7])[0] == pytest.approx(0.7)
    assert with_prior([0.95])[0] > 0.99


@pytest.mark.parametrize("c", [1.0, 0.02], ids=["the default model", "a regularised model"])
def test_the_iris_calibration_lowers_the_held_out_ece(c: float) -> None:
    data = dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pipeline(c, 0).fit(data.x_train, data.y_train)
        calibrated = calibrate(model, data, c, 0)
    assert calibrated.ece_after < calibrated.ece_before
    assert len(calibrated.calibration.x) > 2


class _Model:
    def predict_proba(self, x: Any) -> Any:
        return np.tile([0.3, 0.7], (len(x), 1))


def _reference() -> Reference:
    return Reference.from_training(np.zeros((10, 2)), ["a", "b"], ("no", "yes"))


def test_a_version_without_a_calibration_expects_its_raw_confidence_and_says_so() -> None:
    uncalibrated = Loaded(_Model(), "1", _reference(), ("no", "yes"))
    calibrated = Loaded(
        _Model(), "2", _reference(), ("no", "yes"), Calibration((0.5, 0.7), (0.6, 0.9))
    )
    _, confidence = uncalibrated.predict(np.zeros((4, 2)))
    assert not uncalibrated.calibrated
    assert uncalibrated.expected_correct(confidence) == pytest.approx(4 * 0.7)
    assert calibrated.calibrated
    assert calibrated.expected_correct(confidence) == pytest.approx(4 * 0.9)


def test_the_store_loads_no_calibration_for_a_version_registered_without_one() -> None:
    settings = ServingSettings(mlflow_tracking_uri="http://127.0.0.1:9", model_name="m")
    store = ModelStore(settings, NO_ML_METRICS)
    # No calibration tag: nothing is downloaded (the registry here is unreachable).
    assert store._calibration("1", "run", {}) is None
