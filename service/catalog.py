"""The one catalog of metrics the platform's own code exports or relies on.

The serving API, the batch jobs, the alert and SLO rules and the dashboards
all take metric names, label names and buckets from here, so a rename cannot
leave a rule or a panel silently querying nothing. This module imports neither
BentoML nor Prometheus client code: it is plain data.

It also bounds cardinality. Every label value a metric carries comes from a
closed set below (or a bound the service enforces), so each metric's series on
one target is computed, `Metric.budget()`, and the scrape jobs' `sample_limit`
is derived from those sums (infra.budgets).
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
    ROLLBACK = "rollback"  # the guarded rollback service (service.rollback)


# Bounds of the label values one serving target (one pod serving one model) can carry. Each
# says where it comes from and what keeps it there; the service tests prove them under load.

# A pod serves one model (MLOPS_SERVING_MODEL_NAME) behind one alias, as one BentoML service.
MODELS_PER_TARGET = 1
# Versions a pod has series for: BentoML runs prometheus_client in multiprocess mode, where a
# counter keeps every version the pod served until it restarts. A pod that followed more
# promotions than this (current, previous, a rollback, one more) nears its sample limit and
# raises PrometheusTargetNearSampleLimit, whose runbook restarts it.
VERSIONS_PER_TARGET = 4
# Classes and features of a served model: the model store refuses to load a version whose
# reference has more, or longer names (service.model_store), counted as reason `load_error`.
MAX_CLASSES = 32
MAX_FEATURES = 64
MAX_NAME_LENGTH = 128

# Closed sets of label values the service writes (service.ml_metrics, service.feedback).
REJECTION_REASONS: tuple[str, ...] = (
    "malformed_json",
    "wrong_type",
    "wrong_feature_count",
    "not_finite",
    "empty_batch",
    "batch_too_large",
    "body_too_large",
    "model_not_loaded",
    "bad_feedback",
)
LOAD_FAILURE_REASONS: tuple[str, ...] = (
    "registry_unreachable",
    "alias_not_found",
    "load_error",
    "reference_missing",
    "calibration_missing",
)
FEEDBACK_OUTCOMES: tuple[str, ...] = ("matched", "unknown_id", "duplicate", "unknown_label")
TRAINING_SCORES: tuple[str, ...] = ("accuracy", "f1_macro")
DEPLOYMENT_ACTIONS: tuple[str, ...] = ("promote", "rollback")
# What service.rollback decided about one alert of a notification; `model` is one of the
# stack's served models or ROLLBACK_OTHER_MODEL (an alert may name anything).
ROLLBACK_OUTCOMES: tuple[str, ...] = (
    "rolled_back",
    "not_champion",
    "outside_window",
    "no_previous",
    "cooldown",
    "not_an_accuracy_alert",
    "missing_labels",
    "resolved",
    "registry_error",
)
ROLLBACK_OTHER_MODEL = "other"
# Why service.rollback refused a whole request before reading its alerts.
ROLLBACK_REJECTIONS: tuple[str, ...] = ("unauthorized", "malformed", "body_too_large")

# BentoML labels its request metrics with the raw request path; the service relabels every
# path that is not one of these routes as UNMATCHED_ENDPOINT before BentoML sees it
# (service.app.BoundedEndpoints), so a scanner cannot add a series per path it tries.
UNMATCHED_ENDPOINT = "other"
# The status codes each endpoint answers with: the service's own (200, 400, 413, 422, 500,
# 503 on /predict and /feedback), BentoML's traffic control (429 over max concurrency, 504
# past the timeout), Starlette's 404 and 405, BentoML's probes (200, 503).
ENDPOINT_STATUSES: dict[str, tuple[int, ...]] = {
    "/predict": (200, 400, 405, 413, 422, 429, 500, 503, 504),
    "/feedback": (200, 400, 405, 413, 422, 429, 500, 503, 504),
    "/livez": (200, 405, 503),
    "/readyz": (200, 405, 503),
    "/healthz": (200, 405, 503),
    "/": (200, 405),
    "/docs.json": (200, 405),
    "/schema.json": (200, 405),
    UNMATCHED_ENDPOINT: (404, 405, 413, 429, 504),
}
ENDPOINT_RESPONSES = sum(len(codes) for codes in ENDPOINT_STATUSES.values())


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    source: Source
    buckets: tuple[float, ...] = ()
    # Distinct label-value combinations on one target (serving: one pod; Pushgateway: one
    # pushed group), computed from the bounds above.
    label_sets: int = 1

    def series(self) -> tuple[str, ...]:
        """Names of the time series this metric produces in the exposition format."""
        if self.kind is Kind.HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)

    def budget(self) -> int:
        """Series on one target: a histogram has a bucket per bound, +Inf, _sum and _count."""
        per_set = len(self.buckets) + 3 if self.kind is Kind.HISTOGRAM else 1
        return self.label_sets * per_set


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
    label_sets=ENDPOINT_RESPONSES,
)
REQUEST_DURATION = Metric(
    "bentoml_service_request_duration_seconds",
    Kind.HISTOGRAM,
    "Time the BentoML API server took to answer a request.",
    ("endpoint", "service_name", "service_version", "http_response_code", "runner_name"),
    Source.BENTOML,
    REQUEST_DURATION_BUCKETS,
    label_sets=ENDPOINT_RESPONSES,
)
REQUEST_IN_PROGRESS = Metric(
    "bentoml_service_request_in_progress",
    Kind.GAUGE,
    "Requests the BentoML API server is handling now.",
    ("endpoint", "service_name", "service_version", "runner_name"),
    Source.BENTOML,
    label_sets=len(ENDPOINT_STATUSES),
)
MODEL_INFO = Metric(
    "mlops_model_info",
    Kind.GAUGE,
    "Always 1: the model version the service is serving, and the registry alias it follows.",
    ("model", "model_version", "model_alias"),
    Source.SERVING,
    label_sets=VERSIONS_PER_TARGET,
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
    label_sets=len(LOAD_FAILURE_REASONS),
)
PREDICTIONS = Metric(
    "mlops_predictions_total",
    Kind.COUNTER,
    "Predictions made, by the model version that made them and the class predicted.",
    ("model", "model_version", "predicted_class"),
    Source.SERVING,
    label_sets=VERSIONS_PER_TARGET * MAX_CLASSES,
)
PREDICTION_CONFIDENCE = Metric(
    "mlops_prediction_confidence",
    Kind.HISTOGRAM,
    "Probability the model gave to the class it predicted.",
    ("model", "model_version"),
    Source.SERVING,
    CONFIDENCE_BUCKETS,
    label_sets=VERSIONS_PER_TARGET,
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
    label_sets=VERSIONS_PER_TARGET,  # a version is calibrated or not, never both
)
REJECTED_INPUTS = Metric(
    "mlops_rejected_inputs_total",
    Kind.COUNTER,
    "Requests refused before prediction, by reason.",
    ("model", "reason"),
    Source.SERVING,
    label_sets=len(REJECTION_REASONS),
)
FEEDBACK = Metric(
    "mlops_feedback_total",
    Kind.COUNTER,
    "Ground-truth labels received, by what became of them: matched to a prediction, "
    "unknown_id (never made, or forgotten), duplicate, or unknown_label.",
    ("model", "outcome"),
    Source.SERVING,
    label_sets=len(FEEDBACK_OUTCOMES),
)
LABELLED_PREDICTIONS = Metric(
    "mlops_labelled_predictions_total",
    Kind.COUNTER,
    "Predictions whose true label arrived, by version and whether the prediction was right; "
    'accuracy over any window is the share of correct="true".',
    ("model", "model_version", "correct"),
    Source.SERVING,
    label_sets=VERSIONS_PER_TARGET * 2,
)
MODEL_ACCURACY = Metric(
    "mlops_model_accuracy",
    Kind.GAUGE,
    "Share of the version's most recent labelled predictions that were right.",
    ("model", "model_version"),
    Source.SERVING,
    label_sets=VERSIONS_PER_TARGET,
)
MODEL_MACRO_F1 = Metric(
    "mlops_model_macro_f1",
    Kind.GAUGE,
    "Macro-averaged F1 over the version's most recent labelled predictions.",
    ("model", "model_version"),
    Source.SERVING,
    label_sets=VERSIONS_PER_TARGET,
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
    label_sets=VERSIONS_PER_TARGET * MAX_FEATURES,
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
    label_sets=len(TRAINING_SCORES),
)

DRIFT_FEATURE_PSI = Metric(
    "mlops_drift_job_feature_psi",
    Kind.GAUGE,
    "Population stability index of one feature in the drift job's window against the reference.",
    ("model", "feature"),
    Source.PUSHGATEWAY,
    label_sets=MAX_FEATURES,
)
DRIFT_FEATURE_PVALUE = Metric(
    "mlops_drift_job_feature_ks_pvalue",
    Kind.GAUGE,
    "Two-sample Kolmogorov-Smirnov p-value of one feature: window against the reference sample.",
    ("model", "feature"),
    Source.PUSHGATEWAY,
    label_sets=MAX_FEATURES,
)
DRIFT_FEATURE_DRIFTED = Metric(
    "mlops_drift_job_feature_drifted",
    Kind.GAUGE,
    "1 if the drift job judged the feature drifted, else 0.",
    ("model", "feature"),
    Source.PUSHGATEWAY,
    label_sets=MAX_FEATURES,
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

ROLLBACK_DECISIONS = Metric(
    "mlops_rollback_decisions_total",
    Kind.COUNTER,
    "Alerts the rollback service decided on, by model and outcome (rolled_back is the only "
    "one that moved an alias).",
    ("model", "outcome"),
    Source.ROLLBACK,
    label_sets=len(ROLLBACK_OUTCOMES),  # per model label value: rollback_budget() multiplies
)
ROLLBACK_REJECTED = Metric(
    "mlops_rollback_requests_rejected_total",
    Kind.COUNTER,
    "Notifications the rollback service refused whole, by reason.",
    ("reason",),
    Source.ROLLBACK,
    label_sets=len(ROLLBACK_REJECTIONS),
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
    ROLLBACK_DECISIONS,
    ROLLBACK_REJECTED,
)

# The prediction route: request metrics, error ratios and SLOs select it, not
# probes and /metrics, whose 503s during startup are not users' errors.
PREDICT_ROUTE = "/predict"

# Pushgateway job names of the batch jobs (their `job` label once scraped).
TRAINING_JOB = "training"
DRIFT_JOB = "drift"
DEPLOYMENT_JOB = "deployment"

# Series the serving /metrics page carries besides the catalog's, measured on the pinned
# BentoML (tests/service/test_cardinality.py): only bentoml_service_last_request_timestamp_
# seconds, a gauge labelled by worker `pid` (prometheus_client multiprocess mode "all"), kept
# for a worker that restarted until the pod does. The service runs one worker: room for three
# restarts. Multiprocess mode adds no process_* or python_* collector series.
SERVING_WORKER_PIDS = 4
SERVING_RUNTIME_SERIES = SERVING_WORKER_PIDS
# Series the Pushgateway adds to each pushed group: push_time_seconds, push_failure_time_seconds.
PUSH_GROUP_SERIES = 2
# Pushed groups per model: one per batch job, each grouped by `model`.
BATCH_JOBS = (TRAINING_JOB, DRIFT_JOB, DEPLOYMENT_JOB)


def serving_budget() -> int:
    """Series one serving target may expose: our metrics, BentoML's, and the runtime's."""
    served = (Source.SERVING, Source.BENTOML)
    return sum(m.budget() for m in CATALOG if m.source in served) + SERVING_RUNTIME_SERIES


def pushed_budget(models: int) -> int:
    """Series the batch jobs may keep on the Pushgateway for `models` served models: each
    model's groups hold the pushed metrics once (a drift push replaces its group whole, a
    deployment push keeps only the last move) plus the Pushgateway's own series per group."""
    per_model = sum(m.budget() for m in CATALOG if m.source is Source.PUSHGATEWAY)
    return models * (per_model + len(BATCH_JOBS) * PUSH_GROUP_SERIES)


def rollback_budget(models: int) -> int:
    """Series the rollback service exposes for `models` served models: every outcome per
    model and for ROLLBACK_OTHER_MODEL, and every rejection reason (it exports nothing else)."""
    return (models + 1) * ROLLBACK_DECISIONS.budget() + ROLLBACK_REJECTED.budget()
