"""Alerts on the model's life outside the API: retraining that stopped, and runs that failed."""

from __future__ import annotations

from infra import conventions as cv
from infra.alerts.model import AlertRule
from infra.spec import AlertThresholds
from infra.units import duration_seconds
from service import catalog as m

GROUP = "mlops-training"
A = cv.Alert


def model_stale(t: AlertThresholds) -> AlertRule:
    max_age = duration_seconds(t.model_max_age)
    return AlertRule(
        A.TRAINING_MODEL_STALE.value,
        GROUP,
        f"time() - max by (model) ({m.TRAINING_LAST_SUCCESS.name}) > {int(max_age)}",
        "10m",
        cv.Severity.WARNING,
        "Model {{ $labels.model }} has not been retrained for too long.",
        "The last successful training of {{ $labels.model }} was {{ $value | humanizeDuration }} ago "
        f"(allowed: {t.model_max_age}).",
        threshold=max_age,
    )


def job_failed(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.TRAINING_JOB_FAILED.value,
        GROUP,
        f"max by (model) ({m.TRAINING_LAST_RUN_SUCCESS.name}) == 0",
        None,
        cv.Severity.WARNING,
        "The last training run of {{ $labels.model }} failed.",
        "The training job reported failure for {{ $labels.model }}; the served version stays "
        "as it was. Check the run in MLflow.",
    )


def rules(t: AlertThresholds) -> list[AlertRule]:
    return [model_stale(t), job_failed(t)]
