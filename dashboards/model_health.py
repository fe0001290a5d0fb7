"""Model health: what the model predicts, how sure it is, whether its inputs drifted, how old it is.

Request metrics say the API answers; these panels say whether the answers are
still any good. They read the service's own ML metrics (predictions, confidence,
accuracy from feedback and estimated from calibrated confidence, rejected
inputs, live per-feature PSI) and what the batch jobs pushed (training
scores and freshness, the drift job's verdicts). The `model` and `version`
variables pick one model and some of its versions, so a canary can be compared
with the champion. The stack's alert thresholds are drawn as lines.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, heatmap, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards import panels as p
from infra import conventions as cv
from infra import queries as q
from infra.spec import PlatformSpec
from service import catalog as m

UID = "mlops-model-health"
FOLDER = cv.FOLDER_UID["serving"]

MODEL = 'model="$model"'
VERSION = 'model_version=~"$version"'
SERVED = f"{q.SERVING},{MODEL}"
SERVED_VERSION = f"{SERVED},{VERSION}"
ACCURACY = "Accuracy: measured and estimated"


def model_variable() -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable("model")
        .label("Model")
        .description("The served model the dashboard shows.")
        .datasource(p.datasource("prometheus"))
        .query(f"label_values({m.MODEL_INFO.name}, {cv.MODEL_LABEL})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def version_variable() -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable("version")
        .label("Version")
        .description("Model versions served in the time range; pick several to compare.")
        .datasource(p.datasource("prometheus"))
        .query(f"label_values({m.MODEL_INFO.name}{{{MODEL}}}, model_version)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.NATURAL_DESC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def version_served() -> stat.Panel:
    return (
        p.stat_panel(
            "Model version served",
            "The registry version each replica serves now, and the alias it follows.",
            p.NO_UNIT,
        )
        .text_mode(common.BigValueTextMode.NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .with_target(
            p.prom(
                f"max by (model_version, model_alias) ({m.MODEL_INFO.name}{{{SERVED}}} == 1)",
                "v{{model_version}} @{{model_alias}}",
                instant=True,
            )
        )
    )


def model_loaded() -> stat.Panel:
    return (
        p.stat_panel(
            "Replicas with the model loaded",
            "Replicas that loaded the model and can predict, out of all replicas.",
            p.NO_UNIT,
        )
        .thresholds(p.thresholds(p.RED, (1, p.GREEN)))
        .with_target(p.prom(f"sum({m.MODEL_LOADED.name}{{{SERVED}}})", "loaded", instant=True))
        .with_target(
            p.prom(
                f"count({m.MODEL_LOADED.name}{{{SERVED}}})", "replicas", ref_id="B", instant=True
            )
        )
    )


def model_freshness(spec: PlatformSpec) -> stat.Panel:
    max_age = p.fires_at(spec, cv.Alert.TRAINING_MODEL_STALE)
    return (
        p.stat_panel(
            "Model freshness",
            "Time since the last successful training run. Red from the age at which "
            "TrainingModelStale fires.",
            p.SECONDS,
            graph=True,
        )
        .thresholds(p.thresholds(p.GREEN, (max_age / 2, p.ORANGE), (max_age, p.RED)))
        .with_target(
            p.prom(
                f"time() - max({m.TRAINING_LAST_SUCCESS.name}{{{q.TRAINING},{MODEL}}})",
                "age",
            )
        )
    )


def predictions() -> timeseries.Panel:
    return p.stacked(
        p.timeseries_panel(
            "Predictions by version and class",
            "Predictions per second by the version that made them and the class predicted: "
            "a shift in the class mix is often the first sign of drift.",
            p.EVENTS_PER_SECOND,
        )
    ).with_target(
        p.prom(
            f"sum by (model_version, predicted_class) "
            f"(rate({m.PREDICTIONS.name}{{{SERVED_VERSION}}}[$__rate_interval]))",
            "v{{model_version}} {{predicted_class}}",
        )
    )


def mean_confidence(spec: PlatformSpec) -> timeseries.Panel:
    panel = (
        p.timeseries_panel(
            "Mean confidence",
            "Mean probability the model gave to the class it predicted, per version. The "
            "dashed line is where ServingLowPredictionConfidence fires.",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    fires_at = p.fires_at(spec, cv.Alert.SERVING_LOW_CONFIDENCE)
    return p.threshold_lines(panel, p.RED, (fires_at, p.GREEN)).with_target(
        p.prom(
            q.mean_confidence("model_version", SERVED_VERSION, "$__rate_interval"),
            "v{{model_version}}",
        )
    )


def accuracy(spec: PlatformSpec) -> timeseries.Panel:
    labelled = m.LABELLED_PREDICTIONS.name
    window, estimated = spec.alerts.accuracy_window, spec.alerts.estimated_accuracy_window
    panel = (
        p.timeseries_panel(
            ACCURACY,
            f"Per version: measured, the share of labelled predictions that were right over "
            f"{window} (from POST /feedback), and the service's rolling macro F1; estimated, "
            f"the calibrated confidence of the predictions made over {estimated}, there before "
            "any label (blind to a change in the right answers that leaves confidence as it "
            "was). The dashed line is the floor under which ServingLowAccuracy and "
            "ServingLowEstimatedAccuracy fire (once enough labels or predictions arrived).",
            p.RATIO,
        )
        .min(0)
        .max(1)
    )
    return (
        p.threshold_lines(panel, p.RED, (p.fires_at(spec, cv.Alert.SERVING_LOW_ACCURACY), p.GREEN))
        .with_target(
            p.prom(
                f'sum by (model_version) (increase({labelled}{{{SERVED_VERSION},correct="true"}}[{window}]))\n'
                f"/\nsum by (model_version) (increase({labelled}{{{SERVED_VERSION}}}[{window}]))",
                "measured v{{model_version}}",
            )
        )
        .with_target(
            p.prom(
                f"max by (model_version) ({m.MODEL_MACRO_F1.name}{{{SERVED_VERSION}}})",
                "macro F1 v{{model_version}}",
                ref_id="B",
            )
        )
        .with_target(
            p.prom(
                q.estimated_accuracy("model_version", SERVED_VERSION, estimated),
                "estimated v{{model_version}}",
                ref_id="C",
            )
        )
    )


def confidence_distribution() -> heatmap.Panel:
    return p.heatmap_panel(
        "Confidence distribution",
        "Predictions per confidence bucket: mass sliding to the left means the model is unsure.",
        p.RATIO,
    ).with_target(
        p.buckets(
            f"sum by (le) (increase({m.PREDICTION_CONFIDENCE.name}_bucket{{{SERVED_VERSION}}}"
            "[$__rate_interval]))"
        )
    )


def rejected_inputs() -> timeseries.Panel:
    return p.stacked(
        p.timeseries_panel(
            "Rejected inputs by reason",
            "Requests refused before prediction, per second, by reason (schema, batch size, "
            "non-finite values...).",
            p.EVENTS_PER_SECOND,
        )
    ).with_target(
        p.prom(
            f"sum by (reason) (rate({m.REJECTED_INPUTS.name}{{{SERVED}}}[$__rate_interval]))",
            "{{reason}}",
        )
    )


def feature_drift(spec: PlatformSpec) -> timeseries.Panel:
    panel = p.timeseries_panel(
        "Feature drift (PSI, live)",
        "Population stability index of each input feature, recent requests against the "
        "training reference. The dashed line is where ServingFeatureDrift fires.",
        p.NO_UNIT,
    ).min(0)
    psi = p.fires_at(spec, cv.Alert.SERVING_FEATURE_DRIFT)
    return p.threshold_lines(panel, p.GREEN, (psi, p.RED)).with_target(
        p.prom(q.feature_drift("feature", SERVED), "{{feature}}")
    )


def drift_verdict() -> stat.Panel:
    return (
        p.stat_panel(
            "Drift job verdict",
            "The last drift job's judgement of the whole dataset, and how long ago it ran.",
            p.NO_UNIT,
        )
        .mappings(p.value_text({"0": ("no drift", p.GREEN), "1": ("drifted", p.RED)}))
        .thresholds(p.thresholds(p.GREEN, (1, p.RED)))
        .with_target(
            p.prom(
                f"max({m.DRIFT_DATASET_DRIFTED.name}{{{q.DRIFT},{MODEL}}})",
                "dataset",
                instant=True,
            )
        )
    )


def drift_job_age() -> stat.Panel:
    return (
        p.stat_panel(
            "Drift job last run", "Time since the drift job last ran to the end.", p.SECONDS
        )
        .color_mode(common.BigValueColorMode.NONE)
        .with_target(
            p.prom(
                f"time() - max({m.DRIFT_LAST_RUN.name}{{{q.DRIFT},{MODEL}}})",
                "age",
                instant=True,
            )
        )
    )


def drift_features() -> table.Panel:
    columns = (
        (m.DRIFT_FEATURE_PSI, "PSI"),
        (m.DRIFT_FEATURE_PVALUE, "KS p-value"),
        (m.DRIFT_FEATURE_DRIFTED, "Drifted"),
    )
    panel = (
        table.Panel()
        .title("Drift job per feature")
        .description(
            "The last drift job's window against the reference, per feature: PSI, "
            "Kolmogorov-Smirnov p-value and the verdict (1 = drifted)."
        )
        .datasource(p.datasource("prometheus"))
        .span(p.HALF)
        .height(p.HEIGHT)
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {
                        f"Value #{chr(ord('A') + i)}": name for i, (_, name) in enumerate(columns)
                    },
                },
            )
        )
    )
    for i, (metric, _) in enumerate(columns):
        panel = panel.with_target(
            p.prom(
                f"max by (feature) ({metric.name}{{{q.DRIFT},{MODEL}}})",
                ref_id=chr(ord("A") + i),
                instant=True,
                fmt=PromQueryFormat.TABLE,
            )
        )
    return panel


def training_scores() -> timeseries.Panel:
    return (
        p.timeseries_panel(
            "Training scores",
            "Held-out scores of the last trained model, by metric (accuracy, macro F1).",
            p.RATIO,
        )
        .max(1)
        .with_target(
            p.prom(
                f"max by (metric) ({m.TRAINING_SCORE.name}{{{q.TRAINING},{MODEL}}})",
                "{{metric}}",
            )
        )
    )


def training_outcome() -> stat.Panel:
    return (
        p.stat_panel(
            "Last training run",
            "Whether the last training run succeeded, and how long it took.",
            p.NO_UNIT,
        )
        .mappings(p.value_text({"0": ("failed", p.RED), "1": ("succeeded", p.GREEN)}))
        .thresholds(p.thresholds(p.RED, (1, p.GREEN)))
        .with_target(
            p.prom(
                f"max({m.TRAINING_LAST_RUN_SUCCESS.name}{{{q.TRAINING},{MODEL}}})",
                "outcome",
                instant=True,
            )
        )
    )


def training_duration() -> stat.Panel:
    return (
        p.stat_panel("Training duration", "Wall-clock time of the last training run.", p.SECONDS)
        .color_mode(common.BigValueColorMode.NONE)
        .with_target(
            p.prom(
                f"max({m.TRAINING_DURATION.name}{{{q.TRAINING},{MODEL}}})",
                "duration",
                instant=True,
            )
        )
    )


def model_health_dashboard(spec: PlatformSpec) -> dashboard.Dashboard:
    return (
        p.base(
            UID,
            "Model health",
            "Predictions, confidence, rejected inputs, drift and freshness of one served model.",
            ["serving", "model"],
            time_from="now-24h",
            refresh="1m",
        )
        .with_variable(model_variable())
        .with_variable(version_variable())
        .annotation(p.deployments())
        .with_row(p.row("Model served"))
        .with_panel(version_served())
        .with_panel(model_loaded())
        .with_panel(model_freshness(spec))
        .with_row(p.row("Predictions"))
        .with_panel(predictions())
        .with_panel(mean_confidence(spec))
        .with_panel(accuracy(spec))
        .with_panel(confidence_distribution())
        .with_panel(rejected_inputs())
        .with_row(p.row("Drift"))
        .with_panel(feature_drift(spec))
        .with_panel(drift_features())
        .with_panel(drift_verdict().span(p.HALF))
        .with_panel(drift_job_age().span(p.HALF))
        .with_row(p.row("Training"))
        .with_panel(training_scores())
        .with_panel(training_outcome().span(p.HALF // 2))
        .with_panel(training_duration().span(p.HALF // 2))
    )
