"""Alerts on the serving API: errors, latency, the loaded model, and whether its answers are good.

Request alerts select the predict route only (probes and /metrics are not
users' requests), through the selectors dashboards share (`infra.queries`).
"""

from __future__ import annotations

from decimal import Decimal

from infra import conventions as cv
from infra.alerts.model import AlertRule, spoken
from infra.queries import (
    SERVING,
    containers_of,
    cpu_throttled_ratio,
    error_ratio,
    estimated_accuracy,
    feature_drift,
    latency_quantile,
    mean_confidence,
)
from infra.queries import number as n
from infra.spec import AlertThresholds
from service import catalog as m

GROUP = "mlops-serving"
A = cv.Alert
BY_VERSION = "sum by (model, model_version)"


def high_error_ratio(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.SERVING_HIGH_ERROR_RATIO.value,
        GROUP,
        f"{error_ratio(t.serving_window)}\n> {n(t.serving_error_ratio)}",
        "5m",
        cv.Severity.CRITICAL,
        "Model {{ $labels.model }} answers too many requests with a server error.",
        "{{ $value | humanizePercentage }} of requests to {{ $labels.model }} failed with a 5xx "
        f"over the last {spoken(t.serving_window)} "
        f"(threshold {n(Decimal(repr(t.serving_error_ratio)) * 100)}%).",
        threshold=t.serving_error_ratio,
    )


def throttling(t: AlertThresholds) -> str:
    """A sentence for a latency alert's description: how throttled at their CPU limit the
    serving containers are now (the most throttled one), queried when the alert fires. Empty
    when no container figures come back."""
    window = t.saturation_window
    throttled = f"max({cpu_throttled_ratio(window, containers_of(cv.Component.SERVING))})".replace(
        "\n", " "
    )
    return (
        f"{{{{ with printf `{throttled}` | query }}}} The most throttled serving container "
        f"spent {{{{ . | first | value | humanizePercentage }}}} of its CPU periods over "
        f"{spoken(window)} throttled at its CPU limit "
        f"(PlatformContainerCpuThrottled fires above {n(Decimal(repr(t.cpu_throttled_ratio)) * 100)}%)."
        "{{ end }}"
    )


def high_latency_p95(t: AlertThresholds, containers: bool = False) -> AlertRule:
    """`containers`: per-container figures are scraped, so the description can tell whether
    CPU throttling explains the latency."""
    p95 = n(t.serving_latency_p95_seconds)
    return AlertRule(
        A.SERVING_HIGH_LATENCY_P95.value,
        GROUP,
        f"{latency_quantile(0.95, t.serving_window)}\n> {p95}",
        "10m",
        cv.Severity.WARNING,
        "Model {{ $labels.model }} is slow.",
        "The 95th percentile latency of {{ $labels.model }} is {{ $value | humanizeDuration }} "
        f"(threshold {p95}s).{throttling(t) if containers else ''}",
        threshold=t.serving_latency_p95_seconds,
    )


def model_not_loaded(t: AlertThresholds) -> AlertRule:
    return AlertRule(
        A.SERVING_MODEL_NOT_LOADED.value,
        GROUP,
        f"{m.MODEL_LOADED.name}{{{SERVING}}} == 0",
        "5m",
        cv.Severity.CRITICAL,
        "Serving replica {{ $labels.instance }} has no model loaded.",
        "{{ $labels.instance }} could not load {{ $labels.model }} from the MLflow registry "
        "and refuses predictions; check the registry, the alias and the load-failure counter.",
    )


def low_confidence(t: AlertThresholds) -> AlertRule:
    confidence = n(t.min_prediction_confidence)
    window = t.confidence_window
    return AlertRule(
        A.SERVING_LOW_CONFIDENCE.value,
        GROUP,
        f"{mean_confidence('model, model_version', SERVING, window)}\n< {confidence}",
        "30m",
        cv.Severity.WARNING,
        "Model {{ $labels.model }} v{{ $labels.model_version }} is unsure of its predictions.",
        "Mean confidence of {{ $labels.model }} version {{ $labels.model_version }} over "
        f'{spoken(window)} is {{{{ printf "%.2f" $value }}}} (threshold {confidence}): inputs '
        "may have moved away from the training data.",
        threshold=t.min_prediction_confidence,
    )


def low_accuracy(t: AlertThresholds) -> AlertRule:
    labelled = f"{m.LABELLED_PREDICTIONS.name}{{{SERVING}}}"
    wrong = f'{m.LABELLED_PREDICTIONS.name}{{{SERVING},correct="false"}}'
    window = t.accuracy_window
    return AlertRule(
        A.SERVING_LOW_ACCURACY.value,
        GROUP,
        # Judged on wrong answers: a window with no wrong answer has no series, and is fine.
        f"(\n  {BY_VERSION} (increase({wrong}[{window}]))\n  /\n"
        f"  {BY_VERSION} (increase({labelled}[{window}]))\n) > {n(1 - Decimal(repr(t.min_accuracy)))}\n"
        f"and\n{BY_VERSION} (increase({labelled}[{window}])) >= {t.min_labelled_predictions}\n"
        # Only the version being served: a rolled-back version's bad hour is history.
        f"and on (model, model_version)\n{BY_VERSION} ({m.MODEL_INFO.name}{{{SERVING}}} == 1)",
        "15m",
        cv.Severity.CRITICAL,
        "Model {{ $labels.model }} v{{ $labels.model_version }} gets too many answers wrong.",
        "Ground truth says {{ $value | humanizePercentage }} of the labelled predictions of "
        f"{{{{ $labels.model }}}} version {{{{ $labels.model_version }}}} over {spoken(window)} "
        f"were wrong (accuracy floor {n(t.min_accuracy)}, judged on at least "
        f"{t.min_labelled_predictions} labels): roll back to the previous champion.",
        threshold=t.min_accuracy,
    )


def measured_accuracy(window: str) -> str:
    """A sentence for the estimated-accuracy alert's description: the accuracy feedback
    measured for the same version over the same window, queried when the alert fires. Empty
    when no label arrived."""
    labelled = f'{m.LABELLED_PREDICTIONS.name}{{{SERVING},model="%[1]s",model_version="%[2]s"'
    right = f'sum(increase({labelled},correct="true"}}[{window}]) or 0 * increase({labelled}}}[{window}]))'
    measured = f"{right} / (sum(increase({labelled}}}[{window}])) > 0)"
    return (
        f"{{{{ with printf `{measured}` $labels.model $labels.model_version | query }}}} "
        "Feedback measured {{ . | first | value | humanizePercentage }} over the same window."
        "{{ end }}"
    )


def low_estimated_accuracy(t: AlertThresholds) -> AlertRule:
    """Accuracy estimated before labels arrive (CBPE): the calibrated confidence of the
    predictions made. Blind to a concept shift that leaves confidence unchanged."""
    window = t.estimated_accuracy_window
    predictions = f"{m.PREDICTIONS.name}{{{SERVING}}}"
    estimate = estimated_accuracy("model, model_version", SERVING, window).replace("\n", "\n  ")
    return AlertRule(
        A.SERVING_LOW_ESTIMATED_ACCURACY.value,
        GROUP,
        f"(\n  {estimate}\n) < {n(t.min_accuracy)}\n"
        f"and\n{BY_VERSION} (increase({predictions}[{window}])) >= {t.min_estimated_predictions}\n"
        f"and on (model, model_version)\n{BY_VERSION} ({m.MODEL_INFO.name}{{{SERVING}}} == 1)",
        "15m",
        cv.Severity.CRITICAL,
        "Model {{ $labels.model }} v{{ $labels.model_version }} is expected to get too many "
        "answers wrong.",
        "From the calibrated confidence of its predictions, the accuracy of "
        "{{ $labels.model }} version {{ $labels.model_version }} over "
        f"{spoken(window)} is estimated at {{{{ $value | humanizePercentage }}}} (accuracy floor "
        f"{n(t.min_accuracy)}, judged on at least {t.min_estimated_predictions} predictions), "
        f"before any label.{measured_accuracy(window)} The estimate cannot see a change in what "
        "the right answer is that leaves the model as sure as before.",
        threshold=t.min_accuracy,
    )


def feature_drifted(t: AlertThresholds) -> AlertRule:
    psi = n(t.drift_psi)
    return AlertRule(
        A.SERVING_FEATURE_DRIFT.value,
        GROUP,
        f"{feature_drift('model, feature', SERVING)} > {psi}",
        "30m",
        cv.Severity.WARNING,
        "Feature {{ $labels.feature }} of {{ $labels.model }} has drifted.",
        "The population stability index of {{ $labels.feature }} against the training reference "
        f'is {{{{ printf "%.2f" $value }}}} (threshold {psi}).',
        threshold=t.drift_psi,
    )


def rules(t: AlertThresholds, containers: bool = False) -> list[AlertRule]:
    """`containers`: per-container figures are scraped (`PlatformSpec.containers_scraped`)."""
    return [
        high_error_ratio(t),
        high_latency_p95(t, containers),
        *(
            build(t)
            for build in (
                model_not_loaded,
                low_confidence,
                low_accuracy,
                low_estimated_accuracy,
                feature_drifted,
            )
        ),
    ]
