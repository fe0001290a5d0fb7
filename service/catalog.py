"""The one catalog of metrics the platform's own code exports or relies on.

The serving API, the batch jobs, the alert and SLO rules and the dashboards
all take metric names, label names and buckets from here, so a rename cannot
leave a rule or a panel silently querying nothing. This module imports neither
BentoML nor Prometheus client code: it is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Source(StrEnum):
    """Who exports a metric (and so which scrape job carries it)."""

    SERVING = "serving"  # our instrumentation in the BentoML service
    BENTOML = "bentoml"  # BentoML's own request metrics, on the same /metrics
    PUSHGATEWAY = "pushgateway"  # pushed by batch jobs (training, drift)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    source: Source
    buckets: tuple[float, ...] = ()

    def series(self) -> tuple[str, ...]:
        """Names of the time series this metric produces in the exposition format."""
        if self.kind is Kind.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)


# Latency buckets of BentoML's request histogram: the service configures BentoML
# with exactly these, and a latency SLO threshold must be one of them.
REQUEST_DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CONFIDENCE_BUCKETS: tuple[float, ...] = (
    0.1,
    0.2,
    0.3,
    0.4,
    0.5,
    0.6,
    0.7,
    0.8,
    0.9,
    0.95,
    0.99,
    1.0,
)

REQUEST_TOTAL = Metric(
    "bentoml_service_request_total",
    Kind.COUNTER,
    "Requests handled by the BentoML API server.",
    ("endpoint", "service_name", "service_version", "http_response_code", "runner_name"),
    Source.BENTOML,
)
REQUEST_DURATION = Metric(
    "bentoml_service_request_duration_seconds",
    Kind.HISTOGRAM,
    "Time the BentoML API server took to answer a request.",
    ("endpoint", "service_name", "service_version", "http_response_code", "runner_name"),
    Source.BENTOML,
    REQUEST_DURATION_BUCKETS,
)
REQUEST_IN_PROGRESS = Metric(
    "bentoml_service_request_in_progress",
    Kind.GAUGE,
    "Requests the BentoML API server is handling now.",
    ("endpoint", "service_name", "service_version", "runner_name"),
    Source.BENTOML,
)
MODEL_INFO = Metric(
    "mlops_model_info",
    Kind.GAUGE,
    "Always 1: the model version the service is serving, and the registry alias it follows.",
    ("model", "model_version", "model_alias"),
    Source.SERVING,
)
MODEL_LOADED = Metric(
    "mlops_model_loaded",
    Kind.GAUGE,
    "1 when a model is loaded and the service can predict, else 0.",
    ("model",),
    Source.SERVING,
)
MODEL_LOAD_FAILURES = Metric(
    "mlops_model_load_failures_total",
    Kind.COUNTER,
    "Failed attempts to load the model from the registry.",
    ("model", "reason"),
    Source.SERVING,
)
PREDICTIONS = Metric(
    "mlops_predictions_total",
    Kind.COUNTER,
    "Predictions made, by the model version that made them and the class predicted.",
    ("model", "model_version", "predicted_class"),
    Source.SERVING,
)
PREDICTION_CONFIDENCE = Metric(
    "mlops_prediction_confidence",
    Kind.HISTOGRAM,
    "Probability the model gave to the class it predicted.",
    ("model", "model_version"),
    Source.SERVING,
    CONFIDENCE_BUCKETS,
)
EXPECTED_CORRECT_PREDICTIONS = Metric(
    "mlops_expected_correct_predictions_total",
    Kind.COUNTER,
    "Predictions expected to be right, before any label: the sum of each prediction's calibrated "
    "top-class probability, by version; its rate over mlops_predictions_total's is the estimated "
    'accuracy over any window. calibrated="false": the version has no calibration and its raw '
    "confidence is summed.",
    ("model", "model_version", "calibrated"),
    Source.SERVING,
)
REJECTED_INPUTS = Metric(
    "mlops_rejected_inputs_total",
    Kind.COUNTER,
    "Requests refused before prediction, by reason.",
    ("model", "reason"),
    Source.SERVING,
)
FEEDBACK = Metric(
    "mlops_feedback_total",
    Kind.COUNTER,
    "Ground-truth labels received, by what became of them: matched to a prediction, "
    "unknown_id (never made, or forgotten), duplicate, or unknown_label.",
    ("model", "outcome"),
    Source.SERVING,
)
LABELLED_PREDICTIONS = Metric(
    "mlops_labelled_predictions_total",
    Kind.COUNTER,
    "Predictions whose true label arrived, by version and whether the prediction was right; "
    'accuracy over any window is the share of correct="true".',
    ("model", "model_version", "correct"),
    Source.SERVING,
)
MODEL_ACCURACY = Metric(
    "mlops_model_accuracy",
    Kind.GAUGE,
    "Share of the version's most recent labelled predictions that were right.",
    ("model", "model_version"),
    Source.SERVING,
)
MODEL_MACRO_F1 = Metric(
    "mlops_model_macro_f1",
    Kind.GAUGE,
    "Macro-averaged F1 over the version's most recent labelled predictions.",
    ("model", "model_version"),
    Source.SERVING,
)
FEEDBACK_PENDING = Metric(
    "mlops_feedback_pending_predictions",
    Kind.GAUGE,
    "Recent predictions kept to match feedback with (bounded by the feedback capacity).",
    ("model",),
    Source.SERVING,
)
FEATURE_DRIFT_PSI = Metric(
    "mlops_feature_drift_psi",
    Kind.GAUGE,
    "Population stability index of one input feature: recent window against the training reference "
    "(NaN after a version change until the new version has enough rows).",
    ("model", "feature"),
    Source.SERVING,
)
TRAINING_LAST_SUCCESS = Metric(
    "mlops_training_last_success_timestamp_seconds",
    Kind.GAUGE,
    "Unix time of the last training run that succeeded (the model-freshness signal).",
    ("model",),
    Source.PUSHGATEWAY,
)
TRAINING_LAST_RUN_SUCCESS = Metric(
    "mlops_training_last_run_success",
    Kind.GAUGE,
    "1 if the last training run succeeded, 0 if it failed.",
    ("model",),
    Source.PUSHGATEWAY,
)
TRAINING_DURATION = Metric(
    "mlops_training_duration_seconds",
    Kind.GAUGE,
    "Wall-clock duration of the last training run.",
    ("model",),
    Source.PUSHGATEWAY,
)
TRAINING_SCORE = Metric(
    "mlops_training_score",
    Kind.GAUGE,
    "Quality of the last trained model on held-out data, by metric (accuracy, f1_macro).",
    ("model", "metric"),
    Source.PUSHGATEWAY,
)

DRIFT_FEATURE_PSI = Metric(
    "mlops_drift_job_feature_psi",
    Kind.GAUGE,
    "Population stability index of one feature in the drift job's window against the reference.",
    ("model", "feature"),
    Source.PUSHGATEWAY,
)
DRIFT_FEATURE_PVALUE = Metric(
    "mlops_drift_job_feature_ks_pvalue",
    Kind.GAUGE,
    "Two-sample Kolmogorov-Smirnov p-value of one feature: window against the reference sample.",
    ("model", "feature"),
    Source.PUSHGATEWAY,
)
DRIFT_FEATURE_DRIFTED = Metric(
    "mlops_drift_job_feature_drifted",
    Kind.GAUGE,
    "1 if the drift job judged the feature drifted, else 0.",
    ("model", "feature"),
    Source.PUSHGATEWAY,
)
DRIFT_DATASET_DRIFTED = Metric(
    "mlops_drift_job_dataset_drifted",
    Kind.GAUGE,
    "1 if the share of drifted features reached the dataset-drift threshold, else 0.",
    ("model",),
    Source.PUSHGATEWAY,
)
DRIFT_LAST_RUN = Metric(
    "mlops_drift_job_last_run_timestamp_seconds",
    Kind.GAUGE,
    "Unix time the drift job last ran to the end.",
    ("model",),
    Source.PUSHGATEWAY,
)

MODEL_DEPLOYMENT = Metric(
    "mlops_model_deployment_timestamp_seconds",
    Kind.GAUGE,
    "Unix time the serving alias last moved (a promotion or a rollback), by model, version "
    "and action; dashboards draw it as an annotation.",
    ("model", "model_version", "action"),
    Source.PUSHGATEWAY,
)

CATALOG: tuple[Metric, ...] = (
    REQUEST_TOTAL,
    REQUEST_DURATION,
    REQUEST_IN_PROGRESS,
    MODEL_INFO,
    MODEL_LOADED,
    MODEL_LOAD_FAILURES,
    PREDICTIONS,
    PREDICTION_CONFIDENCE,
    EXPECTED_CORRECT_PREDICTIONS,
    REJECTED_INPUTS,
    FEATURE_DRIFT_PSI,
    FEEDBACK,
    LABELLED_PREDICTIONS,
    MODEL_ACCURACY,
    MODEL_MACRO_F1,
    FEEDBACK_PENDING,
    TRAINING_LAST_SUCCESS,
    TRAINING_LAST_RUN_SUCCESS,
    TRAINING_DURATION,
    TRAINING_SCORE,
    DRIFT_FEATURE_PSI,
    DRIFT_FEATURE_PVALUE,
    DRIFT_FEATURE_DRIFTED,
    DRIFT_DATASET_DRIFTED,
    DRIFT_LAST_RUN,
    MODEL_DEPLOYMENT,
)

# The prediction route: request metrics, error ratios and SLOs select it, not
# probes and /metrics, whose 503s during startup are not users' errors.
PREDICT_ROUTE = "/predict"

# Pushgateway job names of the batch jobs (their `job` label once scraped).
TRAINING_JOB = "training"
DRIFT_JOB = "drift"
DEPLOYMENT_JOB = "deployment"
