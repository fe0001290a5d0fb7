"""The served model: loaded from the MLflow registry, kept current with its alias.

A background thread resolves `models:/<name>@<alias>`, loads that version, its
drift reference and its calibration, and swaps them in as one immutable
`Loaded` value, so a request sees one consistent version from start to end. Until the first load
succeeds the service is not ready; failures are counted by reason and retried
with capped exponential back-off and jitter. After that the alias is polled and
a new champion replaces the old one without a restart. A version registered
before calibrations were stored has none and still serves: its estimated
accuracy is the raw top-class probability, counted under `calibrated="false"`.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

from service import catalog, ml_metrics
from service.background import Worker
from service.calibration import ARTIFACT as CALIBRATION_ARTIFACT
from service.calibration import TAG, Calibration
from service.reference import ARTIFACT, Reference
from service.settings import ServingSettings

log = logging.getLogger("service.model")

# The store retries with its own capped back-off and counts every failure; the
# MLflow client's own retries would hide an unreachable registry for minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
# Models trained on named columns warn on every unnamed matrix; requests are
# validated against the reference's feature list and order before they get here.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


@dataclass(frozen=True)
class Loaded:
    model: Any  # an sklearn estimator with predict_proba
    version: str
    reference: Reference
    classes: tuple[str, ...]
    calibration: Calibration | None = None  # None: a version registered without one

    @property
    def features(self) -> tuple[str, ...]:
        return self.reference.names

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    def expected_correct(self, confidence: np.ndarray[Any, Any]) -> float:
        """How many of these predictions are expected to be right: the sum of their calibrated
        confidences (the raw ones when the version has no calibration)."""
        if self.calibration is None:
            return float(np.sum(confidence))
        return float(np.sum(self.calibration(confidence)))

    def predict(self, x: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Class indexes and their probabilities.

        Rows go in as a plain matrix in the reference's feature order, which is the
        order the model was trained with: wrapping each request in a DataFrame to
        carry the names cost ~0.4 ms, a sixth of a request. `parse_instances` has refused
        NaN and infinity already: sklearn is told so rather than scan the rows again
        (~25 us of the small model's ~235).
        """
        with sklearn.config_context(assume_finite=True):
            proba = self.model.predict_proba(x)
        index = proba.argmax(axis=1)
        return index, proba[np.arange(len(index)), index]


def unbounded_labels(reference: Reference) -> str | None:
    """Why a version's classes or features would break the catalog's label bounds (they
    become `predicted_class` and `feature` values), or None: such a version is not served."""
    for kind, names, most in (
        ("classes", reference.classes, catalog.MAX_CLASSES),
        ("features", reference.names, catalog.MAX_FEATURES),
    ):
        if len(names) > most:
            return f"{len(names)} {kind}, more than the {most} the metrics budget allows"
        longest = max(names, key=len, default="")
        if len(longest) > catalog.MAX_NAME_LENGTH:
            return (
                f"a name of its {kind} has {len(longest)} characters, more than "
                f"{catalog.MAX_NAME_LENGTH}"
            )
    return None


class LoadError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelStore(Worker):
    def __init__(self, settings: ServingSettings, metrics: ml_metrics.Metrics) -> None:
        super().__init__("model-store")
        self.settings = settings
        self.metrics = metrics
        self.current: Loaded | None = None

    def _resolve(self) -> str:
        from mlflow import MlflowClient  # noqa: PLC0415
        from mlflow.exceptions import MlflowException, RestException  # noqa: PLC0415

        s = self.settings
        try:
            return str(
                MlflowClient(s.mlflow_tracking_uri)
                .get_model_version_by_alias(s.model_name, s.model_alias)
                .version
            )
        except RestException as err:
            raise LoadError(
                "alias_not_found", f"{s.model_name}@{s.model_alias}: {err.message}"
            ) from err
        except MlflowException as err:
            raise LoadError(
                "registry_unreachable", f"MLflow at {s.mlflow_tracking_uri}: {err.message}"
            ) from err
        except OSError as err:
            raise LoadError(
                "registry_unreachable", f"MLflow at {s.mlflow_tracking_uri}: {err}"
            ) from err

    def _load(self, version: str) -> Loaded:
        import mlflow  # noqa: PLC0415
        from mlflow import MlflowClient  # noqa: PLC0415

        s = self.settings
        mlflow.set_tracking_uri(s.mlflow_tracking_uri)
        try:
            model = mlflow.sklearn.load_model(f"models:/{s.model_name}/{version}")
        except Exception as err:
            raise LoadError("load_error", f"{s.model_name} version {version}: {err}") from err
        try:
            registered = MlflowClient(s.mlflow_tracking_uri).get_model_version(
                s.model_name, version
            )
            path = mlflow.artifacts.download_artifacts(
                run_id=registered.run_id, artifact_path=ARTIFACT
            )
            reference = Reference.load(Path(path))
        except Exception as err:
            raise LoadError("reference_missing", f"{ARTIFACT} of version {version}: {err}") from err
        problem = unbounded_labels(reference)
        if problem:
            raise LoadError("load_error", f"{s.model_name} version {version}: {problem}")
        calibration = self._calibration(version, registered.run_id, registered.tags or {})
        return Loaded(model, version, reference, reference.classes, calibration)

    def _calibration(
        self, version: str, run_id: str | None, tags: dict[str, str]
    ) -> Calibration | None:
        """The version's calibration; None when it was registered without one (it serves,
        estimating with raw confidence). One it names but cannot be read is a load failure."""
        import mlflow  # noqa: PLC0415

        artifact = tags.get(TAG)
        if artifact is None:
            log.warning(
                "version %s has no calibration: estimated accuracy uses raw confidence",
                version,
                extra={"model": self.settings.model_name, "model_version": version},
            )
            return None
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact)
            return Calibration.load(Path(path))
        except Exception as err:
            raise LoadError(
                "calibration_missing", f"{CALIBRATION_ARTIFACT} of version {version}: {err}"
            ) from err

    def _swap(self, loaded: Loaded) -> None:
        old = self.current
        name, alias = self.settings.model_name, self.settings.model_alias
        self.metrics.model_served(name, alias, loaded.version, old.version if old else None)
        self.current = loaded
        # What is alive now (the libraries, the model) lives as long as the process: kept out
        # of the garbage collector's full passes, which walked all of it (~0.2 s holding the
        # GIL, requests waiting) every few thousand requests. An old version is still freed
        # when its last reference goes.
        gc.freeze()
        log.info(
            "serving %s version %s",
            name,
            loaded.version,
            extra={
                "model": name,
                "model_version": loaded.version,
                "previous_version": old and old.version,
            },
        )

    def _run(self) -> None:
        s = self.settings
        delay = s.load_retry_initial_seconds
        while not self._stop.is_set():
            try:
                version = self._resolve()
                if self.current is None or version != self.current.version:
                    self._swap(self._load(version))
                delay = s.load_retry_initial_seconds
                wait = s.alias_poll_seconds
            except LoadError as err:
                self.metrics.load_failure(s.model_name, err.reason)
                log.warning(
                    "model load failed, retrying in %.1fs: %s",
                    delay,
                    err,
                    extra={"model": s.model_name, "reason": err.reason},
                )
                wait = delay * random.uniform(0.8, 1.2)
                delay = min(delay * 2, s.load_retry_max_seconds)
                if (
                    self.current is not None
                ):  # still serving the old version: retry no later than a poll
                    wait = min(wait, s.alias_poll_seconds)
            self._stop.wait(wait)
