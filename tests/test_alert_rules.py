"""`promtool test rules` for every platform alert: each fires when it should and stays quiet when it should not.

The cases run against the dev stack's rendered rules (default thresholds), or,
for a saturation alert dev does not render, against a stack that runs its
collector: staging (kube-state-metrics, the kubelet, a retention size) or
staging with a GPU model. The expected annotations are written out by hand,
templates expanded, so a broken template or a wrong threshold in a description
fails here. The last tests say which stacks render which saturation alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra import alerts as alert_groups
from infra import conventions as cv
from infra import queries
from infra.render.rules import platform_rules
from infra.spec import PlatformSpec
from tests.conftest import GPU_VARIANT, gpu_spec, run, spec_with, stack_spec
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
PRED = (
    'mlops_predictions_total{job="serving",instance="s:3000",model="iris",model_version="3",'
    'predicted_class="%s"}'
)
EXPECTED = (
    'mlops_expected_correct_predictions_total{job="serving",instance="s:3000",model="iris",'
    'model_version="3",calibrated="true"}'
)
# Saturation series, labelled as the scrape config labels them: `component`, and the pod
# (kubernetes) or container name (docker) of a container.
DOCKER_CPU = (
    'container_cpu_cfs_%s_total{job="cadvisor",instance="cadvisor:8080",component="serving",'
    'name="mlops-dev-serving-iris"}'
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
            "a slow model's description tells how throttled the serving containers are",
            {
                DUR % "0.5": "0x20",
                DUR % "1.0": "0x20",
                DUR % "2.5": counter([(100, 20)]),
                DUR % "+Inf": counter([(100, 20)]),
                DOCKER_CPU % "throttled_periods": counter([(300, 20)]),
                DOCKER_CPU % "periods": counter([(600, 20)]),
            },
        ).at(
            "15m",
            A.SERVING_HIGH_LATENCY_P95,
            fired(
                A.SERVING_HIGH_LATENCY_P95,
                {"severity": "warning", "model": "iris"},
                "Model iris is slow.",
                "The 95th percentile latency of iris is 2.425s (threshold 1s). The most throttled "
                "serving container spent 50% of its CPU periods over 15 minutes throttled at its "
                "CPU limit (PlatformContainerCpuThrottled fires above 25%).",
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


def _estimated(per_minute: int, expected: float, minutes: int = 90) -> dict[str, str]:
    """Predictions at `per_minute` over two classes, `expected` of them expected right."""
    half = per_minute // 2
    return {
        PRED % "setosa": counter([(half, minutes)]),
        PRED % "virginica": counter([(per_minute - half, minutes)]),
        EXPECTED: counter([(expected, minutes)]),
    }


ESTIMATED_SUMMARY = "Model iris v3 is expected to get too many answers wrong."


def _estimated_description(measured: str = "") -> str:
    return (
        "From the calibrated confidence of its predictions, the accuracy of iris version 3 over "
        "1 hour is estimated at 60% (accuracy floor 0.8, judged on at least 200 predictions), "
        f"before any label.{measured} The estimate cannot see a change in what the right answer "
        "is that leaves the model as sure as before."
    )


def estimated_accuracy_cases() -> list[Case]:
    labels = {"severity": "critical", "model": "iris", "model_version": "3"}
    est = A.SERVING_LOW_ESTIMATED_ACCURACY
    return [
        Case(
            "an estimated accuracy of 60% over hundreds of predictions fires after 15m",
            {**_estimated(10, 6), INFO: "1x90"},
        )
        .at("10m", est)
        .at("80m", est, fired(est, labels, ESTIMATED_SUMMARY, _estimated_description())),
        Case(
            "the estimated accuracy alert quotes the accuracy feedback measured",
            {
                **_estimated(10, 6),
                INFO: "1x90",
                LAB % "true": counter([(3, 90)]),
                LAB % "false": counter([(1, 90)]),
            },
        ).at(
            "80m",
            est,
            fired(
                est,
                labels,
                ESTIMATED_SUMMARY,
                _estimated_description(" Feedback measured 75% over the same window."),
            ),
        ),
        Case(
            "an estimated accuracy of 90% stays quiet",
            {**_estimated(10, 9), INFO: "1x90"},
        ).at("80m", est),
        Case(
            "a low estimate over too few predictions stays quiet",
            {**_estimated(2, 1), INFO: "1x90"},
        ).at("80m", est),
        Case(
            "a low estimate of a version no longer served stays quiet",
            {**_estimated(10, 6), INFO: "0x90"},
        ).at("80m", est),
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


SCRAPED = 'scrape_samples_post_metric_relabeling{job="serving",instance="s:3000",model="iris"}'
LIMIT = 'scrape_sample_limit{job="serving",instance="s:3000",model="iris"}'
SERVING_TARGET = {"job": "serving", "instance": "s:3000", "model": "iris"}


def sample_limit_cases() -> list[Case]:
    return [
        Case(
            "a target at 90% of its sample limit for 15m nears it",
            {SCRAPED: "900x30", LIMIT: "1000x30"},
        )
        .at("10m", A.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT)
        .at(
            "20m",
            A.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT,
            fired(
                A.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT,
                {"severity": "warning", **SERVING_TARGET},
                "serving target s:3000 nears its sample limit.",
                "s:3000 of job serving exposes 90% of its sample_limit: past its cardinality "
                "budget, a new label value away from having every scrape dropped.",
            ),
        ),
        Case("a target within its budget stays quiet", {SCRAPED: "500x30", LIMIT: "1000x30"})
        .at("20m", A.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT)
        .at("20m", A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT),
        Case("a job without a sample limit stays quiet", {SCRAPED: "5000x30", LIMIT: "0x30"})
        .at("20m", A.PROMETHEUS_TARGET_NEAR_SAMPLE_LIMIT)
        .at("20m", A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT),
    ]


def over_sample_limit_cases() -> list[Case]:
    return [
        Case(
            "a target over its sample limit for 5m has its scrapes dropped",
            {SCRAPED: "1200x30", LIMIT: "1000x30"},
        )
        .at("3m", A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT)
        .at(
            "10m",
            A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT,
            fired(
                A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT,
                {"severity": "critical", **SERVING_TARGET},
                "Prometheus drops every scrape of serving target s:3000.",
                "s:3000 of job serving exposes 1200 samples, more than its sample_limit: "
                "Prometheus keeps none of them, and the alerts reading them are blind.",
            ),
        ),
        Case(
            "a target just under its sample limit is not over it",
            {SCRAPED: "999x30", LIMIT: "1000x30"},
        ).at("10m", A.PROMETHEUS_TARGET_OVER_SAMPLE_LIMIT),
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


# -- saturation: each runs on a stack that renders it (see RUNS_ON) ------------------------

NS = "mlops-staging"
KSM = f'job="kube-state-metrics",instance="ksm:8080",namespace="{NS}"'
SERVING_POD = f"{NS}-serving-iris-classifier-7d9f8-abcde"
K8S_CPU = (
    'container_cpu_cfs_%s_total{job="cadvisor",instance="node-1",component="serving",'
    f'namespace="{NS}",pod="{SERVING_POD}",container="serving"}}'
)
DOCKER_MEMORY = (
    'container_%s_bytes{job="cadvisor",instance="cadvisor:8080",component="mlflow",'
    'name="mlops-dev-mlflow"}'
)
PVC = (
    'kubelet_volume_stats_%s_bytes{job="kubelet",instance="node-1",component="prometheus",'
    f'namespace="{NS}",persistentvolumeclaim="data-{NS}-prometheus-0"}}'
)
NODE_FS = (
    'node_filesystem_%s{job="node-exporter",instance="node-exporter:9100",device="/dev/sda1",'
    'fstype="ext4",mountpoint="/"}'
)
NODE_MEMORY = 'node_memory_%s_bytes{job="node-exporter",instance="node-exporter:9100"}'
TSDB = 'prometheus_tsdb_%s_bytes{job="prometheus",instance="prometheus:9090"}'
DCGM = (
    'DCGM_FI_DEV_%s{job="dcgm-exporter",instance="node-1:9400",gpu="0",UUID="GPU-5fd4c1a2",'
    'component="serving"}'
)


def falling(start: int, step: int, count: int) -> str:
    """A gauge falling by `step` every interval from `start`, `count` + 1 samples."""
    return f"{start}-{step}x{count}"


def container_memory_cases() -> list[Case]:
    return [
        Case(
            "a docker container at 95% of its memory limit for 15m fires",
            {
                DOCKER_MEMORY % "memory_working_set": "1900x30",
                DOCKER_MEMORY % "spec_memory_limit": "2000x30",
            },
        )
        .at("10m", A.CONTAINER_MEMORY_NEAR_LIMIT)
        .at(
            "20m",
            A.CONTAINER_MEMORY_NEAR_LIMIT,
            fired(
                A.CONTAINER_MEMORY_NEAR_LIMIT,
                {"severity": "warning", "component": "mlflow", "name": "mlops-dev-mlflow"},
                "mlflow container mlops-dev-mlflow is near its memory limit.",
                "mlflow container mlops-dev-mlflow uses 95% of its memory limit (threshold 90%): "
                "the kernel OOM-kills it when it reaches the limit.",
            ),
        ),
        Case(
            "half the memory limit, or no limit at all, stays quiet",
            {
                DOCKER_MEMORY % "memory_working_set": "1000x30",
                DOCKER_MEMORY % "spec_memory_limit": "2000x30",
                DOCKER_MEMORY.replace("mlflow", "loki") % "memory_working_set": "1900x30",
                DOCKER_MEMORY.replace("mlflow", "loki") % "spec_memory_limit": "0x30",
            },
        ).at("20m", A.CONTAINER_MEMORY_NEAR_LIMIT),
    ]


def cpu_throttled_cases() -> list[Case]:
    return [
        Case(
            "a pod throttled in half its CPU periods for 15m fires",
            {
                K8S_CPU % "throttled_periods": counter([(300, 40)]),
                K8S_CPU % "periods": counter([(600, 40)]),
            },
        )
        .at("10m", A.CONTAINER_CPU_THROTTLED)
        .at(
            "30m",
            A.CONTAINER_CPU_THROTTLED,
            fired(
                A.CONTAINER_CPU_THROTTLED,
                {"severity": "warning", "component": "serving", "pod": SERVING_POD},
                f"serving container {SERVING_POD} is throttled at its CPU limit.",
                f"serving container {SERVING_POD} was throttled in 50% of its CPU periods over "
                "15 minutes (threshold 25%): it wants more CPU than its limit allows, and "
                "answers slower.",
            ),
        ),
        Case(
            "throttled in 10% of its CPU periods stays quiet",
            {
                K8S_CPU % "throttled_periods": counter([(60, 40)]),
                K8S_CPU % "periods": counter([(600, 40)]),
            },
        ).at("30m", A.CONTAINER_CPU_THROTTLED),
    ]


RESTARTS = (
    f'kube_pod_container_status_restarts_total{{{KSM},component="mlflow",pod="{NS}-mlflow-0",'
    'container="mlflow",uid="8c1f"}'
)
MLFLOW_POD = {"component": "mlflow", "namespace": NS, "pod": f"{NS}-mlflow-0"}


def restart_cases() -> list[Case]:
    return [
        Case(
            "three restarts in 15m fire at once, and stop counting 15m later",
            {RESTARTS: "0x5 1 2 3 3x30"},
        )
        .at("7m", A.CONTAINER_RESTARTING)
        .at(
            "10m",
            A.CONTAINER_RESTARTING,
            fired(
                A.CONTAINER_RESTARTING,
                {"severity": "warning", **MLFLOW_POD, "container": "mlflow"},
                f"mlflow container mlflow in {NS}/{NS}-mlflow-0 keeps restarting.",
                f"mlflow container mlflow in pod {NS}/{NS}-mlflow-0 restarted 3 times in 15 "
                "minutes (threshold 3): it crashes, is OOM-killed or fails its liveness probe.",
            ),
        )
        .at("30m", A.CONTAINER_RESTARTING),
        Case("one restart stays quiet", {RESTARTS: "0x5 1x30"}).at("10m", A.CONTAINER_RESTARTING),
    ]


WAITING = (
    f'kube_pod_container_status_waiting_reason{{{KSM},component="serving",pod="{SERVING_POD}",'
    'container="serving",reason="CrashLoopBackOff"}'
)


def crash_looping_cases() -> list[Case]:
    return [
        Case(
            # Between back-offs the container runs for a moment, and the series is absent.
            "a container back in CrashLoopBackOff after every start for 15m fires",
            {WAITING: " ".join(["1 1 1 _"] * 10)},
        )
        .at("10m", A.CONTAINER_CRASH_LOOPING)
        .at(
            "25m",
            A.CONTAINER_CRASH_LOOPING,
            fired(
                A.CONTAINER_CRASH_LOOPING,
                {
                    "severity": "critical",
                    "component": "serving",
                    "namespace": NS,
                    "pod": SERVING_POD,
                    "container": "serving",
                },
                f"serving container serving in {NS}/{SERVING_POD} is crash looping.",
                f"serving container serving in pod {NS}/{SERVING_POD} has been in "
                "CrashLoopBackOff for 15 minutes: it exits at every start, and Kubernetes "
                "waits longer before each new try.",
            ),
        ),
        Case(
            "one back-off after a crash, then running, stays quiet",
            {WAITING: "1x2 _x40"},
        ).at("25m", A.CONTAINER_CRASH_LOOPING),
    ]


READY = f'kube_pod_status_ready{{{KSM},component="mlflow",pod="{NS}-mlflow-0",uid="8c1f",condition="%s"}}'


def pod_not_ready_cases() -> list[Case]:
    return [
        Case(
            "a pod not ready for 15m fires",
            {READY % "false": "1x30", READY % "true": "0x30"},
        )
        .at("10m", A.POD_NOT_READY)
        .at(
            "20m",
            A.POD_NOT_READY,
            fired(
                A.POD_NOT_READY,
                {"severity": "warning", **MLFLOW_POD},
                f"mlflow pod {NS}/{NS}-mlflow-0 is not ready.",
                f"mlflow pod {NS}/{NS}-mlflow-0 has not been ready for 15 minutes: its Service "
                "sends it no traffic (pending, failing its readiness probe, or restarting).",
            ),
        ),
        Case(
            "a pod ready after 5m of starting stays quiet",
            {READY % "false": "1x5 0x25", READY % "true": "0x5 1x25"},
        ).at("20m", A.POD_NOT_READY),
    ]


DEPLOYMENT = (
    f'kube_deployment_%s{{{KSM},component="otel-collector",deployment="{NS}-otel-collector"}}'
)
STATEFULSET = (
    f'kube_statefulset_%s{{{KSM},component="alertmanager",statefulset="{NS}-alertmanager"}}'
)


def replicas_cases() -> list[Case]:
    ksm = {"job": "kube-state-metrics", "instance": "ksm:8080", "namespace": NS}
    return [
        Case(
            "a Deployment one replica short for 15m fires",
            {
                DEPLOYMENT % "spec_replicas": "2x30",
                DEPLOYMENT % "status_replicas_available": "1x30",
            },
        )
        .at("10m", A.REPLICAS_MISMATCH)
        .at(
            "20m",
            A.REPLICAS_MISMATCH,
            fired(
                A.REPLICAS_MISMATCH,
                {
                    "severity": "warning",
                    **ksm,
                    "component": "otel-collector",
                    "deployment": f"{NS}-otel-collector",
                },
                "otel-collector runs fewer replicas than it wants.",
                f"otel-collector workload {NS}/{NS}-otel-collector has been missing 1 of its "
                "replicas for 15 minutes: pods that cannot be scheduled, cannot start, or are "
                "not ready.",
            ),
        ),
        Case(
            "a StatefulSet two replicas short for 15m fires",
            {STATEFULSET % "replicas": "3x30", STATEFULSET % "status_replicas_ready": "1x30"},
        ).at(
            "20m",
            A.REPLICAS_MISMATCH,
            fired(
                A.REPLICAS_MISMATCH,
                {
                    "severity": "warning",
                    **ksm,
                    "component": "alertmanager",
                    "statefulset": f"{NS}-alertmanager",
                },
                "alertmanager runs fewer replicas than it wants.",
                f"alertmanager workload {NS}/{NS}-alertmanager has been missing 2 of its "
                "replicas for 15 minutes: pods that cannot be scheduled, cannot start, or are "
                "not ready.",
            ),
        ),
        Case(
            "workloads with every replica, or a rollout short for 5m, stay quiet",
            {
                DEPLOYMENT % "spec_replicas": "2x30",
                DEPLOYMENT % "status_replicas_available": "2x10 1x5 2x15",
                STATEFULSET % "replicas": "3x30",
                STATEFULSET % "status_replicas_ready": "3x30",
            },
        ).at("20m", A.REPLICAS_MISMATCH),
    ]


def node_pressure_cases() -> list[Case]:
    condition = (
        'kube_node_status_condition{job="kube-state-metrics",instance="ksm:8080",node="node-1",'
        'condition="MemoryPressure",status="%s"}'
    )
    return [
        Case(
            "a node under memory pressure for 10m fires",
            {condition % "true": "1x20", condition % "false": "0x20"},
        )
        .at("5m", A.NODE_PRESSURE)
        .at(
            "15m",
            A.NODE_PRESSURE,
            fired(
                A.NODE_PRESSURE,
                {
                    "severity": "warning",
                    "job": "kube-state-metrics",
                    "instance": "ksm:8080",
                    "node": "node-1",
                    "condition": "MemoryPressure",
                    "status": "true",
                },
                "Node node-1 reports MemoryPressure.",
                "The kubelet of node node-1 has reported MemoryPressure for 10 minutes: it "
                "evicts pods and refuses new ones until the pressure goes.",
            ),
        ),
        Case(
            "a node without pressure stays quiet",
            {condition % "true": "0x20", condition % "false": "1x20"},
        ).at("15m", A.NODE_PRESSURE),
    ]


def volume_cases() -> list[Case]:
    # Every 5m: 1000 bytes of capacity, 500 free at first, 2 fewer at each step: below 40%
    # free at 255m, and the 6h trend runs out within a day; 60m later it fires.
    return [
        Case(
            "a volume below 40% free whose trend fills it within a day fires after 1h",
            {PVC % "available": falling(500, 2, 80), PVC % "capacity": "1000x80"},
            interval="5m",
        )
        .at("300m", A.VOLUME_FILLING_UP)
        .at(
            "360m",
            A.VOLUME_FILLING_UP,
            fired(
                A.VOLUME_FILLING_UP,
                {
                    "severity": "warning",
                    "job": "kubelet",
                    "instance": "node-1",
                    "component": "prometheus",
                    "namespace": NS,
                    "persistentvolumeclaim": f"data-{NS}-prometheus-0",
                },
                f"Volume {NS}/data-{NS}-prometheus-0 of prometheus is filling up.",
                f"Volume {NS}/data-{NS}-prometheus-0 of prometheus: 35.6% of it is free "
                "(alerting below 40%), and at its rate over the last 6 hours it is full within "
                "1 day; then it stops writing.",
            ),
        ),
        Case(
            "a volume 35% free that does not grow stays quiet",
            {PVC % "available": "350x80", PVC % "capacity": "1000x80"},
            interval="5m",
        ).at("360m", A.VOLUME_FILLING_UP),
    ]


def node_filesystem_cases() -> list[Case]:
    return [
        Case(
            "a node filesystem below 40% free whose trend fills it within a day fires after 1h",
            {
                NODE_FS % "avail_bytes": falling(500, 2, 80),
                NODE_FS % "size_bytes": "1000x80",
                NODE_FS % "readonly": "0x80",
            },
            interval="5m",
        )
        .at("300m", A.NODE_FILESYSTEM_FILLING_UP)
        .at(
            "360m",
            A.NODE_FILESYSTEM_FILLING_UP,
            fired(
                A.NODE_FILESYSTEM_FILLING_UP,
                {
                    "severity": "warning",
                    "job": "node-exporter",
                    "instance": "node-exporter:9100",
                    "device": "/dev/sda1",
                    "fstype": "ext4",
                    "mountpoint": "/",
                },
                "Filesystem / on node-exporter:9100 is filling up.",
                "Filesystem / (/dev/sda1) on node-exporter:9100: 35.6% of it is free (alerting "
                "below 40%), and at its rate over the last 6 hours it is full within 1 day; then "
                "everything writing to it fails.",
            ),
        ),
        Case(
            "a filesystem 35% free that does not grow, or a filling tmpfs, stays quiet",
            {
                NODE_FS % "avail_bytes": "350x80",
                NODE_FS % "size_bytes": "1000x80",
                NODE_FS % "readonly": "0x80",
                NODE_FS.replace("ext4", "tmpfs") % "avail_bytes": falling(500, 2, 80),
                NODE_FS.replace("ext4", "tmpfs") % "size_bytes": "1000x80",
                NODE_FS.replace("ext4", "tmpfs") % "readonly": "0x80",
            },
            interval="5m",
        ).at("360m", A.NODE_FILESYSTEM_FILLING_UP),
    ]


def node_memory_cases() -> list[Case]:
    return [
        Case(
            "a node with 6.25% of its memory available for 15m fires",
            {
                NODE_MEMORY % "MemAvailable": "500000000x30",
                NODE_MEMORY % "MemTotal": "8000000000x30",
            },
        )
        .at("10m", A.NODE_MEMORY_LOW)
        .at(
            "20m",
            A.NODE_MEMORY_LOW,
            fired(
                A.NODE_MEMORY_LOW,
                {"severity": "warning", "job": "node-exporter", "instance": "node-exporter:9100"},
                "Node node-exporter:9100 is low on memory.",
                "Only 6.25% of the memory of node-exporter:9100 is available (threshold 10%): "
                "the kernel's OOM killer is near, and may pick any of the platform's containers.",
            ),
        ),
        Case(
            "half the memory available stays quiet",
            {
                NODE_MEMORY % "MemAvailable": "4000000000x30",
                NODE_MEMORY % "MemTotal": "8000000000x30",
            },
        ).at("20m", A.NODE_MEMORY_LOW),
    ]


def tsdb_cases() -> list[Case]:
    return [
        Case(
            "TSDB blocks at 85% of the retention size for 30m fire",
            {TSDB % "storage_blocks": "8500000000x40", TSDB % "retention_limit": "10000000000x40"},
        )
        .at("20m", A.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE)
        .at(
            "35m",
            A.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE,
            fired(
                A.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE,
                {"severity": "warning", "job": "prometheus", "instance": "prometheus:9090"},
                "Prometheus prometheus:9090 nears its retention size.",
                "The TSDB blocks of prometheus:9090 fill 85% of prometheus.retentionSize "
                "(threshold 80%): past it, Prometheus deletes its oldest blocks, and history is "
                "shorter than retentionTime.",
            ),
        ),
        Case(
            "half the retention size, or none set (a limit of 0), stays quiet",
            {
                TSDB % "storage_blocks": "5000000000x40",
                TSDB % "retention_limit": "10000000000x40",
                TSDB.replace("prometheus:9090", "prometheus-1:9090")
                % "storage_blocks": "9000000000x40",
                TSDB.replace("prometheus:9090", "prometheus-1:9090") % "retention_limit": "0x40",
            },
        ).at("35m", A.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE),
    ]


GPU_LABELS = {
    "job": "dcgm-exporter",
    "instance": "node-1:9400",
    "gpu": "0",
    "UUID": "GPU-5fd4c1a2",
    "component": "serving",
}


def gpu_memory_cases() -> list[Case]:
    return [
        Case(
            "a GPU with 95% of its memory in use for 15m fires",
            {DCGM % "FB_USED": "19000x30", DCGM % "FB_FREE": "1000x30"},
        )
        .at("10m", A.SERVING_GPU_MEMORY_NEAR_FULL)
        .at(
            "20m",
            A.SERVING_GPU_MEMORY_NEAR_FULL,
            fired(
                A.SERVING_GPU_MEMORY_NEAR_FULL,
                {"severity": "warning", **GPU_LABELS},
                "GPU 0 of serving is near its memory limit.",
                "GPU 0 (GPU-5fd4c1a2) of serving on node-1:9400 has 95% of its memory in use "
                "(threshold 90%): a bigger batch or a second model fails with out-of-memory.",
            ),
        ),
        Case(
            "a GPU with half its memory in use stays quiet",
            {DCGM % "FB_USED": "10000x30", DCGM % "FB_FREE": "10000x30"},
        ).at("20m", A.SERVING_GPU_MEMORY_NEAR_FULL),
    ]


def gpu_saturated_cases() -> list[Case]:
    return [
        Case("a GPU 98% busy for 15m fires", {DCGM % "GPU_UTIL": "98x40"})
        .at("10m", A.SERVING_GPU_SATURATED)
        .at(
            "20m",
            A.SERVING_GPU_SATURATED,
            fired(
                A.SERVING_GPU_SATURATED,
                {"severity": "warning", **GPU_LABELS},
                "GPU 0 of serving is saturated.",
                "GPU 0 (GPU-5fd4c1a2) of serving on node-1:9400 was busy 98% of the time over "
                "15 minutes (threshold 95%): requests queue for it, and latency follows.",
            ),
        ),
        Case("a GPU 60% busy stays quiet", {DCGM % "GPU_UTIL": "60x40"}).at(
            "20m", A.SERVING_GPU_SATURATED
        ),
    ]


# Case builders by alert group, as infra.alerts defines the groups.
SERVING_CASES = (
    error_ratio_cases,
    latency_cases,
    model_loaded_cases,
    confidence_cases,
    accuracy_cases,
    estimated_accuracy_cases,
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
    sample_limit_cases,
    over_sample_limit_cases,
    notification_cases,
    watchdog_cases,
)
SATURATION_CASES = (
    container_memory_cases,
    cpu_throttled_cases,
    restart_cases,
    crash_looping_cases,
    pod_not_ready_cases,
    replicas_cases,
    volume_cases,
)
NODE_CASES = (node_pressure_cases, node_filesystem_cases, node_memory_cases)
GPU_CASES = (gpu_memory_cases, gpu_saturated_cases)
PROMETHEUS_CASES = (tsdb_cases,)
BUILDERS = (
    *MONITORING_CASES,
    *SERVING_CASES,
    *TRAINING_CASES,
    *SATURATION_CASES,
    *NODE_CASES,
    *GPU_CASES,
    *PROMETHEUS_CASES,
)
# The rule file a builder's cases run on when not dev's: saturation alerts are rendered only
# where their collector runs (kube-state-metrics and the kubelet on staging, GPUs with a model
# that requests one), and the Kubernetes cases carry a pod where docker's carry a name.
GPU = GPU_VARIANT
RUNS_ON: dict[Callable[[], list[Case]], str] = {
    cpu_throttled_cases: "staging",
    restart_cases: "staging",
    crash_looping_cases: "staging",
    pod_not_ready_cases: "staging",
    replicas_cases: "staging",
    volume_cases: "staging",
    node_pressure_cases: "staging",
    tsdb_cases: "staging",
    gpu_memory_cases: GPU,
    gpu_saturated_cases: GPU,
}
SPECS = {"dev": SPEC, "staging": stack_spec("staging"), GPU: gpu_spec()}


def platform_cases() -> list[tuple[str, Case]]:
    """Every case, with the stack whose rendered rules it runs on."""
    return [(RUNS_ON.get(build, "dev"), case) for build in BUILDERS for case in build()]


@pytest.fixture(scope="module")
def rule_files(
    rendered: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The platform rule file of each stack the cases run on, as `python -m infra.render` writes
    it (the GPU variant is rendered the same way)."""
    gpu = tmp_path_factory.mktemp("render-gpu") / "platform-alerts.yml"
    gpu.write_text(platform_rules(SPECS[GPU]))
    return {
        "dev": rendered["dev"] / cv.PLATFORM_RULES,
        "staging": rendered["staging"] / cv.PLATFORM_RULES,
        GPU: gpu,
    }


def _alerts(rule_file: Path) -> set[str]:
    rules = yaml.safe_load(rule_file.read_text())
    return {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}


WATCHDOG_FIRED = fired(
    A.WATCHDOG,
    {"severity": "info"},
    "Alerting works: this alert always fires.",
    "Prometheus evaluates rules and Alertmanager delivers them. The heartbeat receiver hears this "
    "alert every few minutes; when it stops, the alerting path is broken and no other alert can "
    "reach anyone.",
)


def test_every_platform_alert_has_a_firing_and_a_quiet_case(rule_files: dict[str, Path]) -> None:
    alerts = set().union(*(_alerts(path) for path in rule_files.values()))
    firing = {a for _, c in platform_cases() for _, a, exp in c.expect if exp}
    quiet = {a for _, c in platform_cases() for _, a, exp in c.expect if not exp}
    assert alerts == {a.value for a in A}
    assert alerts - firing == set()
    # The Watchdog is never quiet: that is its point.
    assert alerts - quiet == {A.WATCHDOG.value}


def test_every_case_runs_on_rules_that_define_its_alert(rule_files: dict[str, Path]) -> None:
    """A quiet case on a rule file without its alert would pass and prove nothing."""
    missing = [
        f"{case.name}: {alert} is not in the {stack} rules"
        for stack, case in platform_cases()
        for _, alert, _ in case.expect
        if alert not in _alerts(rule_files[stack])
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(("stack", "case"), platform_cases(), ids=lambda c: getattr(c, "name", c))
def test_platform_alert_case(
    stack: str, case: Case, rule_files: dict[str, Path], promtool: Path, tmp_path: Path
) -> None:
    test_file = write_test_file(tmp_path / "test.yml", [rule_files[stack]], [case])
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
        (SATURATION_CASES, {alert_groups.saturation.GROUP}),
        (NODE_CASES, {alert_groups.saturation.NODE_GROUP}),
        (GPU_CASES, {alert_groups.saturation.GPU_GROUP}),
        (PROMETHEUS_CASES, {alert_groups.platform.PROMETHEUS_GROUP}),
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
    ids=["serving", "training", "saturation", "nodes", "gpus", "prometheus", "monitoring"],
)
def test_case_builders_follow_the_alert_groups(
    builders: tuple[Callable[[], list[Case]], ...], groups: set[str]
) -> None:
    alerts = alert_groups.by_name(SPECS[GPU])
    named = {a for build in builders for case in build() for _, a, _ in case.expect}
    assert named
    assert {alerts[name].group for name in named} == groups


# -- which stacks render which saturation alerts ---------------------------------------------

CONTAINER_ALERTS = {A.CONTAINER_MEMORY_NEAR_LIMIT.value, A.CONTAINER_CPU_THROTTLED.value}
KSM_ALERTS = {
    A.CONTAINER_RESTARTING.value,
    A.CONTAINER_CRASH_LOOPING.value,
    A.POD_NOT_READY.value,
    A.REPLICAS_MISMATCH.value,
    A.NODE_PRESSURE.value,
}
NODE_ALERTS = {A.NODE_FILESYSTEM_FILLING_UP.value, A.NODE_MEMORY_LOW.value}
GPU_ALERTS = {A.SERVING_GPU_MEMORY_NEAR_FULL.value, A.SERVING_GPU_SATURATED.value}
TSDB_ALERT = A.PROMETHEUS_TSDB_NEAR_RETENTION_SIZE.value
VOLUME_ALERT = A.VOLUME_FILLING_UP.value
THROTTLING = "The most throttled serving container"


def _names(spec: PlatformSpec) -> set[str]:
    return set(alert_groups.by_name(spec))


def _saturation(spec: PlatformSpec) -> set[str]:
    return _names(spec) & (
        CONTAINER_ALERTS | KSM_ALERTS | NODE_ALERTS | GPU_ALERTS | {TSDB_ALERT, VOLUME_ALERT}
    )


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("dev", CONTAINER_ALERTS | NODE_ALERTS),
        ("staging", CONTAINER_ALERTS | KSM_ALERTS | NODE_ALERTS | {TSDB_ALERT, VOLUME_ALERT}),
        ("prod", CONTAINER_ALERTS | KSM_ALERTS | {TSDB_ALERT, VOLUME_ALERT}),
    ],
)
def test_each_shipped_stack_renders_the_saturation_alerts_of_its_collectors(
    stack: str, expected: set[str]
) -> None:
    assert _saturation(stack_spec(stack)) == expected


def test_the_gpu_alerts_come_only_with_a_model_that_requests_gpus() -> None:
    assert _names(stack_spec("staging")) & GPU_ALERTS == set()
    assert _names(gpu_spec()) & GPU_ALERTS == GPU_ALERTS
    assert _names(gpu_spec(gpus=0)) & GPU_ALERTS == set()
    without_exporter = gpu_spec(saturation={"dcgmExporter": {"enabled": False}})
    assert without_exporter.gpus
    assert _names(without_exporter) & GPU_ALERTS == set()


def test_the_kube_state_metrics_alerts_come_only_with_kube_state_metrics() -> None:
    assert _names(stack_spec("staging")) >= KSM_ALERTS
    off = spec_with("staging", saturation={"kubeStateMetrics": {"enabled": False}})
    assert _names(off) & KSM_ALERTS == set()
    # Its other alerts stay: they read the kubelet and node-exporter.
    assert _saturation(off) == CONTAINER_ALERTS | NODE_ALERTS | {TSDB_ALERT, VOLUME_ALERT}
    # docker has no kube-state-metrics, whatever the setting says.
    assert _names(stack_spec("dev")) & KSM_ALERTS == set()


def test_the_tsdb_alert_comes_only_with_a_retention_size() -> None:
    assert stack_spec("dev").prometheus.retention_size is None
    assert TSDB_ALERT not in _names(stack_spec("dev"))
    sized = spec_with("dev", prometheus={"retentionSize": "4GB"})
    assert TSDB_ALERT in _names(sized)
    assert alert_groups.by_name(sized)[TSDB_ALERT].group == alert_groups.platform.PROMETHEUS_GROUP


def test_container_and_volume_alerts_follow_their_collectors() -> None:
    no_cadvisor = spec_with("dev", saturation={"cadvisor": {"enabled": False}})
    assert _names(no_cadvisor) & CONTAINER_ALERTS == set()
    no_kubelet = spec_with("staging", saturation={"kubelet": {"enabled": False}})
    assert _names(no_kubelet) & (CONTAINER_ALERTS | {VOLUME_ALERT}) == set()
    no_nodes = spec_with("dev", saturation={"nodeExporter": {"enabled": False}})
    assert _names(no_nodes) & NODE_ALERTS == set()


def test_the_latency_alert_tells_cpu_throttling_only_where_container_figures_are_scraped() -> None:
    name = A.SERVING_HIGH_LATENCY_P95.value
    for spec, told in (
        (stack_spec("dev"), True),
        (stack_spec("staging"), True),
        (spec_with("dev", saturation={"cadvisor": {"enabled": False}}), False),
        (spec_with("staging", saturation={"kubelet": {"enabled": False}}), False),
    ):
        description = alert_groups.by_name(spec)[name].description
        assert (THROTTLING in description) is told, spec.name
        if told:
            assert (
                queries.cpu_throttled_ratio(
                    "15m", queries.containers_of(cv.Component.SERVING)
                ).replace("\n", " ")
                in description
            )
