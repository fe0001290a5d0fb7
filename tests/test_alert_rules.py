"""`promtool test rules` for every platform alert: each fires when it should and stays quiet when it should not.

The cases run against the dev stack's rendered rules (default thresholds). The
expected annotations are written out by hand, templates expanded, so a broken
template or a wrong threshold in a description fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import alerts as alert_groups
from infra import conventions as cv
from tests.conftest import run, stack_spec
from tests.promtool_cases import Case, alert, counter, write_test_file

A = cv.Alert
SPEC = stack_spec("dev")
REQ = 'bentoml_service_request_total{job="serving",instance="s:3000",model="iris",endpoint="/predict",http_response_code="%s"}'
DUR = 'bentoml_service_request_duration_seconds_bucket{job="serving",instance="s:3000",model="iris",endpoint="/predict",le="%s"}'
INFO = (
    'mlops_model_info{job="serving",instance="s:3000",model="iris",model_version="3",'
    'model_alias="champion"}'
)
LAB = (
    'mlops_labelled_predictions_total{job="serving",instance="s:3000",model="iris",'
    'model_version="3",correct="%s"}'
)
CONF = (
    'mlops_prediction_confidence_%s{job="serving",instance="s:3000",model="iris",model_version="3"}'
)


def fired(name: cv.Alert, labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return alert(
        labels,
        {
            "summary": summary,
            "description": description,
            "runbook_url": SPEC.runbook_url(name.value),
        },
    )


def target_down_cases() -> list[Case]:
    return [
        Case("target down for 5m fires", {'up{job="mlflow",instance="mlflow:5000"}': "1 1 0x10"})
        .at("5m", A.TARGET_DOWN)
        .at(
            "8m",
            A.TARGET_DOWN,
            fired(
                A.TARGET_DOWN,
                {"severity": "warning", "job": "mlflow", "instance": "mlflow:5000"},
                "mlflow target mlflow:5000 is down.",
                "Prometheus cannot scrape mlflow:5000 of job mlflow: the process is down or "
                "unreachable, and its own alerts cannot fire.",
            ),
        ),
        Case(
            "a healthy target stays quiet", {'up{job="mlflow",instance="mlflow:5000"}': "1x20"}
        ).at("15m", A.TARGET_DOWN),
    ]


def error_ratio_cases() -> list[Case]:
    return [
        Case(
            "10% server errors fire the error-ratio alert",
            {REQ % "200": counter([(90, 20)]), REQ % "500": counter([(10, 20)])},
        ).at(
            "15m",
            A.SERVING_HIGH_ERROR_RATIO,
            fired(
                A.SERVING_HIGH_ERROR_RATIO,
                {"severity": "critical", "model": "iris"},
                "Model iris answers too many requests with a server error.",
                "10% of requests to iris failed with a 5xx over the last 5 minutes (threshold 5%).",
            ),
        ),
        Case(
            "2% server errors stay under the 5% threshold",
            {REQ % "200": counter([(98, 20)]), REQ % "500": counter([(2, 20)])},
        ).at("15m", A.SERVING_HIGH_ERROR_RATIO),
        Case(
            "probe 503s while a replica starts are not serving errors",
            {
                REQ % "200": counter([(100, 20)]),
                REQ.replace("/predict", "/readyz") % "503": counter([(50, 20)]),
            },
        ).at("15m", A.SERVING_HIGH_ERROR_RATIO),
    ]


def latency_cases() -> list[Case]:
    return [
        Case(
            "requests between 1s and 2.5s fire the p95 latency alert",
            {
                DUR % "0.5": "0x20",
                DUR % "1.0": "0x20",
                DUR % "2.5": counter([(100, 20)]),
                DUR % "+Inf": counter([(100, 20)]),
            },
        ).at(
            "15m",
            A.SERVING_HIGH_LATENCY_P95,
            fired(
                A.SERVING_HIGH_LATENCY_P95,
                {"severity": "warning", "model": "iris"},
                "Model iris is slow.",
                "The 95th percentile latency of iris is 2.425s (threshold 1s).",
            ),
        ),
        Case(
            "fast requests keep the p95 latency alert quiet",
            {
                DUR % "0.5": counter([(100, 20)]),
                DUR % "1.0": counter([(100, 20)]),
                DUR % "2.5": counter([(100, 20)]),
                DUR % "+Inf": counter([(100, 20)]),
            },
        ).at("15m", A.SERVING_HIGH_LATENCY_P95),
    ]


def model_loaded_cases() -> list[Case]:
    return [
        Case(
            "a replica without a model fires after 5m",
            {'mlops_model_loaded{job="serving",instance="s-0:3000",model="iris"}': "0x10"},
        )
        .at("3m", A.SERVING_MODEL_NOT_LOADED)
        .at(
            "6m",
            A.SERVING_MODEL_NOT_LOADED,
            fired(
                A.SERVING_MODEL_NOT_LOADED,
                {"severity": "critical", "job": "serving", "instance": "s-0:3000", "model": "iris"},
                "Serving replica s-0:3000 has no model loaded.",
                "s-0:3000 could not load iris from the MLflow registry and refuses predictions; "
                "check the registry, the alias and the load-failure counter.",
            ),
        ),
        Case(
            "a loaded model stays quiet",
            {'mlops_model_loaded{job="serving",instance="s-0:3000",model="iris"}': "1x10"},
        ).at("8m", A.SERVING_MODEL_NOT_LOADED),
    ]


def confidence_cases() -> list[Case]:
    return [
        Case(
            "a mean confidence of 0.5 fires the low-confidence alert",
            {CONF % "sum": counter([(50, 70)]), CONF % "count": counter([(100, 70)])},
        ).at(
            "65m",
            A.SERVING_LOW_CONFIDENCE,
            fired(
                A.SERVING_LOW_CONFIDENCE,
                {"severity": "warning", "model": "iris", "model_version": "3"},
                "Model iris v3 is unsure of its predictions.",
                "Mean confidence of iris version 3 over 30 minutes is 0.50 (threshold 0.6): inputs "
                "may have moved away from the training data.",
            ),
        ),
        Case(
            "a mean confidence of 0.8 stays quiet",
            {CONF % "sum": counter([(80, 70)]), CONF % "count": counter([(100, 70)])},
        ).at("65m", A.SERVING_LOW_CONFIDENCE),
        Case(
            "no traffic is not low confidence",
            {CONF % "sum": "0x70", CONF % "count": "0x70"},
        ).at("65m", A.SERVING_LOW_CONFIDENCE),
    ]


def accuracy_cases() -> list[Case]:
    return [
        Case(
            "40% wrong answers on hundreds of labels fire the accuracy alert after 15m",
            {LAB % "true": counter([(3, 90)]), LAB % "false": counter([(2, 90)]), INFO: "1x90"},
        )
        .at("10m", A.SERVING_LOW_ACCURACY)
        .at(
            "80m",
            A.SERVING_LOW_ACCURACY,
            fired(
                A.SERVING_LOW_ACCURACY,
                {"severity": "critical", "model": "iris", "model_version": "3"},
                "Model iris v3 gets too many answers wrong.",
                "Ground truth says 40% of the labelled predictions of iris version 3 over 1 hour "
                "were wrong (accuracy floor 0.8, judged on at least 50 labels): roll back to the "
                "previous champion.",
            ),
        ),
        Case(
            "three wrong labels cannot page anyone",
            {LAB % "false": "0+1x3 3x86", INFO: "1x90"},
        ).at("80m", A.SERVING_LOW_ACCURACY),
        Case(
            "90% accuracy stays quiet",
            {LAB % "true": counter([(9, 90)]), LAB % "false": counter([(1, 90)]), INFO: "1x90"},
        ).at("80m", A.SERVING_LOW_ACCURACY),
        Case(
            "a bad version no longer served (rolled back) stays quiet",
            {LAB % "true": counter([(3, 90)]), LAB % "false": counter([(2, 90)]), INFO: "0x90"},
        ).at("80m", A.SERVING_LOW_ACCURACY),
    ]


def drift_cases() -> list[Case]:
    return [
        Case(
            "a PSI of 0.35 for 30m fires the drift alert",
            {
                'mlops_feature_drift_psi{job="serving",instance="s:3000",model="iris",feature="petal_length"}': "0.35x40"
            },
        )
        .at("20m", A.SERVING_FEATURE_DRIFT)
        .at(
            "35m",
            A.SERVING_FEATURE_DRIFT,
            fired(
                A.SERVING_FEATURE_DRIFT,
                {"severity": "warning", "model": "iris", "feature": "petal_length"},
                "Feature petal_length of iris has drifted.",
                "The population stability index of petal_length against the training reference is "
                "0.35 (threshold 0.2).",
            ),
        ),
        Case(
            "a PSI of 0.05 stays quiet",
            {
                'mlops_feature_drift_psi{job="serving",instance="s:3000",model="iris",feature="petal_length"}': "0.05x40"
            },
        ).at("35m", A.SERVING_FEATURE_DRIFT),
    ]


def model_stale_cases() -> list[Case]:
    return [
        Case(
            # time() starts at 0 in promtool: a success at -700000s is 8 days old.
            "a model last trained 8 days ago is stale",
            {
                'mlops_training_last_success_timestamp_seconds{job="training",instance="",model="iris"}': "-700000x20"
            },
        ).at(
            "15m",
            A.TRAINING_MODEL_STALE,
            fired(
                A.TRAINING_MODEL_STALE,
                {"severity": "warning", "model": "iris"},
                "Model iris has not been retrained for too long.",
                "The last successful training of iris was 8d 2h 41m 40s ago (allowed: 7d).",
            ),
        ),
        Case(
            "a model trained a day ago is fresh",
            {
                'mlops_training_last_success_timestamp_seconds{job="training",instance="",model="iris"}': "-86400x20"
            },
        ).at("15m", A.TRAINING_MODEL_STALE),
    ]


def training_run_cases() -> list[Case]:
    return [
        Case(
            "a failed training run fires at once",
            {'mlops_training_last_run_success{job="training",instance="",model="iris"}': "0x5"},
        ).at(
            "1m",
            A.TRAINING_JOB_FAILED,
            fired(
                A.TRAINING_JOB_FAILED,
                {"severity": "warning", "model": "iris"},
                "The last training run of iris failed.",
                "The training job reported failure for iris; the served version stays as it was. "
                "Check the run in MLflow.",
            ),
        ),
        Case(
            "a successful training run stays quiet",
            {'mlops_training_last_run_success{job="training",instance="",model="iris"}': "1x5"},
        ).at("1m", A.TRAINING_JOB_FAILED),
    ]


def pushgateway_cases() -> list[Case]:
    return [
        Case(
            "a batch job silent for over 2 days is stale",
            {'push_time_seconds{job="drift",instance=""}': "-200000x20"},
        ).at(
            "15m",
            A.PUSHGATEWAY_JOB_STALE,
            fired(
                A.PUSHGATEWAY_JOB_STALE,
                {"severity": "warning", "job": "drift"},
                "Batch job drift has not pushed metrics for too long.",
                "Nothing from drift reached the Pushgateway for 2d 7h 48m 20s (allowed: 2d): the job "
                "is not running or cannot push.",
            ),
        ),
        Case(
            "a batch job that pushed an hour ago is fine",
            {'push_time_seconds{job="drift",instance=""}': "-3600x20"},
        ).at("15m", A.PUSHGATEWAY_JOB_STALE),
        Case(
            "a deployment event weeks old is not a stale job: alias moves are not scheduled",
            {'push_time_seconds{job="deployment",instance=""}': "-2000000x20"},
        ).at("15m", A.PUSHGATEWAY_JOB_STALE),
    ]


def rule_failure_cases() -> list[Case]:
    return [
        Case(
            "rule evaluations failing for 15m fire",
            {
                'prometheus_rule_evaluation_failures_total{job="prometheus",instance="p:9090",rule_group="g"}': counter(
                    [(1, 30)]
                )
            },
        ).at(
            "25m",
            A.PROMETHEUS_RULE_FAILURES,
            fired(
                A.PROMETHEUS_RULE_FAILURES,
                {
                    "severity": "critical",
                    "job": "prometheus",
                    "instance": "p:9090",
                    "rule_group": "g",
                },
                "Prometheus fails to evaluate rules.",
                "5 evaluations of group g failed in 5 minutes: alerts and SLOs that depend on them "
                "are blind.",
            ),
        ),
        Case(
            "old rule failures that stopped stay quiet",
            {
                'prometheus_rule_evaluation_failures_total{job="prometheus",instance="p:9090",rule_group="g"}': "3x30"
            },
        ).at("25m", A.PROMETHEUS_RULE_FAILURES),
    ]


def notification_cases() -> list[Case]:
    return [
        Case(
            "10% failed Slack notifications fire",
            {
                'alertmanager_notifications_failed_total{job="alertmanager",instance="am:9093",integration="slack"}': counter(
                    [(1, 20)]
                ),
                'alertmanager_notifications_total{job="alertmanager",instance="am:9093",integration="slack"}': counter(
                    [(10, 20)]
                ),
            },
        ).at(
            "12m",
            A.ALERTMANAGER_NOTIFICATIONS_FAILING,
            fired(
                A.ALERTMANAGER_NOTIFICATIONS_FAILING,
                {
                    "severity": "critical",
                    "job": "alertmanager",
                    "instance": "am:9093",
                    "integration": "slack",
                },
                "Alertmanager cannot deliver slack notifications.",
                "10% of slack notifications from am:9093 failed over 5 minutes: people are not being "
                "told about alerts.",
            ),
        ),
        Case(
            "delivered notifications stay quiet",
            {
                'alertmanager_notifications_failed_total{job="alertmanager",instance="am:9093",integration="slack"}': "0x20",
                'alertmanager_notifications_total{job="alertmanager",instance="am:9093",integration="slack"}': counter(
                    [(10, 20)]
                ),
            },
        ).at("12m", A.ALERTMANAGER_NOTIFICATIONS_FAILING),
    ]


def watchdog_cases() -> list[Case]:
    return [
        Case("the watchdog fires from the first evaluation, with no series at all", {})
        .at("1m", A.WATCHDOG, WATCHDOG_FIRED)
        .at("3d", A.WATCHDOG, WATCHDOG_FIRED),
    ]


# Case builders by alert group, as infra.alerts defines the groups.
SERVING_CASES = (
    error_ratio_cases,
    latency_cases,
    model_loaded_cases,
    confidence_cases,
    accuracy_cases,
    drift_cases,
)
TRAINING_CASES = (
    model_stale_cases,
    training_run_cases,
)
MONITORING_CASES = (
    target_down_cases,
    pushgateway_cases,
    rule_failure_cases,
    notification_cases,
    watchdog_cases,
)


def platform_cases() -> list[Case]:
    return [
        case for build in (*MONITORING_CASES, *SERVING_CASES, *TRAINING_CASES) for case in build()
    ]


WATCHDOG_FIRED = fired(
    A.WATCHDOG,
    {"severity": "info"},
    "Alerting works: this alert always fires.",
    "Prometheus evaluates rules and Alertmanager delivers them. The heartbeat receiver hears this "
    "alert every few minutes; when it stops, the alerting path is broken and no other alert can "
    "reach anyone.",
)


def test_every_platform_alert_has_a_firing_and_a_quiet_case(rendered: dict[str, Path]) -> None:
    rules = yaml.safe_load((rendered["dev"] / cv.PLATFORM_RULES).read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    firing = {a for c in platform_cases() for _, a, exp in c.expect if exp}
    quiet = {a for c in platform_cases() for _, a, exp in c.expect if not exp}
    assert alerts == {a.value for a in A}
    assert alerts - firing == set()
    # The Watchdog is never quiet: that is its point.
    assert alerts - quiet == {A.WATCHDOG.value}


@pytest.mark.parametrize("case", platform_cases(), ids=lambda c: c.name)
def test_platform_alert_case(
    case: Case, rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    test_file = write_test_file(
        tmp_path / "test.yml", [rendered["dev"] / cv.PLATFORM_RULES], [case]
    )
    result = run([promtool, "test", "rules", test_file])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_promtool(
    rendered: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    """The cases above can fail: expecting silence where the alert fires does."""
    case = Case("wrong", {'up{job="mlflow",instance="mlflow:5000"}': "0x20"}).at(
        "15m", A.TARGET_DOWN
    )
    test_file = write_test_file(
        tmp_path / "test.yml", [rendered["dev"] / cv.PLATFORM_RULES], [case]
    )
    result = run([promtool, "test", "rules", test_file])
    assert result.returncode != 0
    assert "alertname: PlatformTargetDown" in result.stdout + result.stderr
    assert "got:" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("builders", "groups"),
    [
        (SERVING_CASES, {alert_groups.serving.GROUP}),
        (TRAINING_CASES, {alert_groups.training.GROUP}),
        (
            MONITORING_CASES,
            {
                alert_groups.platform.GROUP,
                alert_groups.platform.PUSHGATEWAY_GROUP,
                alert_groups.platform.PROMETHEUS_GROUP,
                alert_groups.platform.ALERTMANAGER_GROUP,
            },
        ),
    ],
    ids=["serving", "training", "monitoring"],
)
def test_case_builders_follow_the_alert_groups(
    builders: tuple[Callable[[], list[Case]], ...], groups: set[str]
) -> None:
    alerts = alert_groups.by_name(SPEC)
    named = {a for build in builders for case in build() for _, a, _ in case.expect}
    assert named
    assert {alerts[name].group for name in named} == groups
