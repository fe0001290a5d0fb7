"""Training job: train, register, and promote only a model at least as good as the champion.

`python -m service.train --tracking-uri http://127.0.0.1:5000 --model iris-classifier`

Trains a scaled logistic regression on the iris data that ships with
scikit-learn, logs parameters, held-out metrics and the model (with its
signature) to MLflow, registers a new version, and moves the serving alias to
it only if its held-out accuracy is at least the current champion's on the same
held-out rows. The per-feature reference distribution for drift goes with the
run as `reference.json`, and the calibration of its confidence (an isotonic
regression fitted on out-of-fold predictions of the training rows, with the
model's own probability as a weak prior, for the accuracy the service estimates
before labels arrive) as `calibration.json`,
with its expected calibration error on the held-out rows. The outcome, scores,
duration and the time of the last success are pushed to the Pushgateway: the
last is the model-freshness signal.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from service import calibration as cal
from service import catalog
from service.promote import PREVIOUS_TAG
from service.pushing import push
from service.reference import ARTIFACT, Reference, feature_slug

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger("service.train")
HOLDOUT_SEED = 42  # fixed, so every run and the champion are scored on the same rows
REFERENCE_TAG = "reference_artifact"
CALIBRATION_ECE_TAG = "calibration_ece"
# Out-of-fold predictions for the calibration: 5 folds, repeated so that more of the few
# low-confidence predictions the training rows give are seen.
CALIBRATION_FOLDS, CALIBRATION_REPEATS = 5, 10
# The model's own probability as the calibration's prior, worth this many training rows (each
# seen CALIBRATION_REPEATS times) spread over every confidence: next to the 105 rows iris
# trains on, little where predictions are many, about as much as the data below 0.7, where
# iris gives a dozen rows and two or three errors (cal.fit).
CALIBRATION_PRIOR_ROWS = 20


@dataclass(frozen=True)
class Dataset:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray[Any, Any]
    y_test: np.ndarray[Any, Any]
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    version: str
    accuracy: float
    f1_macro: float
    champion_version: str | None
    champion_accuracy: float | None
    promoted: bool


def dataset() -> Dataset:
    iris = load_iris()
    columns = [feature_slug(n) for n in iris.feature_names]
    frame = pd.DataFrame(iris.data, columns=columns)
    x_train, x_test, y_train, y_test = train_test_split(
        frame, iris.target, test_size=0.3, random_state=HOLDOUT_SEED, stratify=iris.target
    )
    return Dataset(x_train, x_test, y_train, y_test, tuple(str(n) for n in iris.target_names))


def _scores(model: Any, data: Dataset) -> tuple[float, float]:
    predicted = model.predict(data.x_test)
    return (
        float(accuracy_score(data.y_test, predicted)),
        float(f1_score(data.y_test, predicted, average="macro")),
    )


@dataclass(frozen=True)
class Trained:
    version: str
    accuracy: float
    f1_macro: float
    run_id: str
    ece: float  # calibrated, on the held-out rows


def pipeline(c: float, seed: int) -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=c, max_iter=2000, random_state=seed)),
        ]
    )


@dataclass(frozen=True)
class Calibrated:
    calibration: cal.Calibration
    ece_before: float  # on the held-out rows, raw top-class probability
    ece_after: float  # on the held-out rows, calibrated


def calibrate(model: Any, data: Dataset, c: float, seed: int) -> Calibrated:
    """An isotonic calibration of the top-class probability, fitted on out-of-fold predictions
    of the training rows (cross-fitting: neither the model nor the calibration sees the
    held-out rows) with the model's own probability as a weak prior, and its binned ECE
    before and after on the held-out rows."""
    folds = RepeatedStratifiedKFold(
        n_splits=CALIBRATION_FOLDS, n_repeats=CALIBRATION_REPEATS, random_state=seed
    )
    confidence, correct = [], []
    for train_rows, test_rows in folds.split(data.x_train, data.y_train):
        fold = pipeline(c, seed).fit(data.x_train.iloc[train_rows], data.y_train[train_rows])
        proba = fold.predict_proba(data.x_train.iloc[test_rows])
        confidence.append(proba.max(axis=1))
        correct.append(proba.argmax(axis=1) == data.y_train[test_rows])
    calibration = cal.fit(
        np.concatenate(confidence),
        np.concatenate(correct),
        prior=CALIBRATION_PRIOR_ROWS * CALIBRATION_REPEATS,
        classes=len(data.classes),
    )
    held_out = model.predict_proba(data.x_test)
    top, right = held_out.max(axis=1), held_out.argmax(axis=1) == data.y_test
    return Calibrated(
        calibration,
        cal.expected_calibration_error(top, right),
        cal.expected_calibration_error(calibration(top), right),
    )


def _train_and_register(model_name: str, data: Dataset, c: float, seed: int) -> Trained:
    """Fits the model in an MLflow run that logs its parameters, scores, drift reference
    and signature, and registers it as a new version."""
    import mlflow  # noqa: PLC0415 - heavy; keeps `--help` and argument errors fast
    from mlflow.models import infer_signature  # noqa: PLC0415

    model = pipeline(c, seed)
    with mlflow.start_run() as run:
        mlflow.log_params({"C": c, "seed": seed, "model": "StandardScaler+LogisticRegression"})
        model.fit(data.x_train, data.y_train)
        accuracy, f1 = _scores(model, data)
        calibrated = calibrate(model, data, c, seed)
        mlflow.log_metrics(
            {
                "accuracy": accuracy,
                "f1_macro": f1,
                "ece_before_calibration": calibrated.ece_before,
                "ece_after_calibration": calibrated.ece_after,
            }
        )
        mlflow.log_dict(calibrated.calibration.to_dict(), cal.ARTIFACT)
        reference = Reference.from_training(
            data.x_train.to_numpy(), list(data.x_train.columns), data.classes
        )
        mlflow.log_dict(reference.to_dict(), ARTIFACT)
        mlflow.set_tag("classes", ",".join(data.classes))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(data.x_train, model.predict_proba(data.x_train)),
            input_example=data.x_train.head(2),
            registered_model_name=model_name,
        )
    return Trained(
        str(info.registered_model_version), accuracy, f1, run.info.run_id, calibrated.ece_after
    )


def _champion(
    client: MlflowClient, model_name: str, alias: str, data: Dataset
) -> tuple[str | None, float | None]:
    """The version the alias names and its accuracy on the held-out rows, where known."""
    import mlflow  # noqa: PLC0415
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    version: str | None = None
    accuracy: float | None = None
    try:
        champion = client.get_model_version_by_alias(model_name, alias)
        version = str(champion.version)
        accuracy, _ = _scores(mlflow.sklearn.load_model(f"models:/{model_name}/{version}"), data)
    except MlflowException:
        pass  # no champion yet: the first good model becomes one
    return version, accuracy


def _promote(
    client: MlflowClient, model_name: str, alias: str, version: str, previous: str | None
) -> None:
    client.set_registered_model_alias(model_name, alias, version)
    if previous is not None:  # so `python -m service.promote --rollback` can undo it
        client.set_model_version_tag(model_name, version, PREVIOUS_TAG, previous)


def train(tracking_uri: str, model_name: str, alias: str, c: float, seed: int) -> Outcome:
    import mlflow  # noqa: PLC0415
    from mlflow import MlflowClient  # noqa: PLC0415

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(model_name)
    client = MlflowClient(tracking_uri)
    data = dataset()
    trained = _train_and_register(model_name, data, c, seed)
    version, accuracy = trained.version, trained.accuracy
    client.set_model_version_tag(model_name, version, REFERENCE_TAG, ARTIFACT)
    client.set_model_version_tag(model_name, version, "accuracy", f"{accuracy:.6f}")
    client.set_model_version_tag(model_name, version, cal.TAG, cal.ARTIFACT)
    client.set_model_version_tag(model_name, version, CALIBRATION_ECE_TAG, f"{trained.ece:.6f}")
    champion_version, champion_accuracy = _champion(client, model_name, alias, data)
    promoted = champion_accuracy is None or accuracy >= champion_accuracy
    if promoted:
        _promote(client, model_name, alias, version, champion_version)
    client.set_model_version_tag(model_name, version, "promoted", str(promoted).lower())
    log.info(
        "trained %s version %s: accuracy %.4f, calibrated ECE %.4f, champion %s at %s -> %s",
        model_name,
        version,
        accuracy,
        trained.ece,
        champion_version,
        champion_accuracy,
        "promoted" if promoted else "kept the champion",
        extra={"run_id": trained.run_id},
    )
    return Outcome(
        version, accuracy, trained.f1_macro, champion_version, champion_accuracy, promoted
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--tracking-uri", required=True, help="MLflow tracking server URL")
    parser.add_argument("--model", default="iris-classifier", help="registered model name")
    parser.add_argument("--alias", default="champion", help="alias the serving API follows")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pushgateway", help="Pushgateway URL; nothing is pushed when unset")
    args = parser.parse_args(argv)
    if args.c <= 0:
        parser.error("--c must be greater than 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    started = time.time()
    group = {"model": args.model}
    try:
        outcome = train(args.tracking_uri, args.model, args.alias, args.c, args.seed)
    except Exception as err:
        log.error("training %s failed: %s", args.model, err)
        if args.pushgateway:
            push(
                args.pushgateway,
                catalog.TRAINING_JOB,
                group,
                [
                    (catalog.TRAINING_LAST_RUN_SUCCESS, group, 0),
                    (catalog.TRAINING_DURATION, group, time.time() - started),
                ],
                replace=False,
            )
        return 1
    if args.pushgateway:
        finished = time.time()
        push(
            args.pushgateway,
            catalog.TRAINING_JOB,
            group,
            [
                (catalog.TRAINING_LAST_RUN_SUCCESS, group, 1),
                (catalog.TRAINING_LAST_SUCCESS, group, finished),
                (catalog.TRAINING_DURATION, group, finished - started),
                (catalog.TRAINING_SCORE, group | {"metric": "accuracy"}, outcome.accuracy),
                (catalog.TRAINING_SCORE, group | {"metric": "f1_macro"}, outcome.f1_macro),
            ],
        )
    print(
        f"version={outcome.version} accuracy={outcome.accuracy:.4f} "
        f"champion={outcome.champion_version} promoted={outcome.promoted}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
