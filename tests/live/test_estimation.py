"""Accuracy estimated before labels arrive (CBPE), live on 127.0.0.1.

The real training job registers the iris model with its calibration; one serving API loads
it from MLflow; Prometheus scrapes it and evaluates the rendered rules of the live profile;
Alertmanager notifies a webhook sink. Predictions are drawn from the iris world
(tests/iris_world.py), so the test knows each row's true class: first in distribution, then
moved toward the versicolor/virginica boundary (a covariate shift that really costs
accuracy). The estimate is read from Prometheus with the rules' own query; the measured
accuracy from `mlops_labelled_predictions_total`, fed by the service's feedback endpoint.
Labels are sparse until the estimated-accuracy alert has been delivered, then the late ones
arrive: ServingLowAccuracy can only fire then. One serving replica, no load driver: about
2 minutes 15 s on this 2-core machine, most of it starting MLflow, training and serving; the
phases themselves take about 45 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest

from infra import conventions as cv
from infra import endpoints as ep
from infra.queries import SERVING, estimated_accuracy
from infra.render import render_all
from service import catalog
from tests import servers
from tests.iris_world import Floats, World
from tests.live import harness as h
from tests.live.sink import WebhookSink

pytestmark = pytest.mark.live
C = cv.Component
MODEL = h.STEADY
CLASSES = ("setosa", "versicolor", "virginica")
SEED = 0
ESTIMATED, MEASURED = cv.Alert.SERVING_LOW_ESTIMATED_ACCURACY, cv.Alert.SERVING_LOW_ACCURACY
# The live profile's windows, shortened for accuracy: a 20 s estimate judged on 300 predictions
# at least; measured accuracy judged on 500 labels at least, far more than arrive on time.
ALERTS = {"estimatedAccuracyWindow": "20s", "minEstimatedPredictions": 300,
          "minLabelledPredictions": 500}  # fmt: skip
BATCH, PACE = 25, 0.5  # rows per request, seconds between requests: 50 predictions a second
IN_DISTRIBUTION_ROWS = 600
# The shift: inputs around the versicolor/virginica midpoint, their covariance 16 times
# smaller (World.boundary). Nearer the boundary than the in-process test's (2 times, true 0.740,
# estimated 0.825: above the floor): the calibration, fitted on iris's few low-confidence
# errors, under-reports the fall (tests/service/test_estimation_limits.py), so this shift takes
# the truth well below the floor (about 0.64) for the estimate to be below it too (about 0.72).
SPREAD = 16.0
LABEL_EVERY = {"in distribution": 10, "shifted": 20}  # labels on time: one row in this many
SETTLE = 2.5  # seconds for the last predictions to be scraped before a phase is read
IN_DISTRIBUTION_TOLERANCE, SHIFTED_TOLERANCE = 0.05, 0.15


@dataclass
class Phase:
    """Rows sent in one phase: the service's answers, and the world's true classes."""

    started: float
    ended: float = 0.0
    ids: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)
    labelled: set[int] = field(default_factory=set)  # indexes of rows whose label was sent

    def accuracy(self, rows: set[int] | None = None) -> float:
        rows = set(range(len(self.ids))) if rows is None else rows
        return sum(self.predicted[i] == self.truth[i] for i in rows) / len(rows)


@dataclass
class Client:
    live: h.Live
    http: httpx.Client

    @property
    def url(self) -> str:
        return self.live.endpoints.serving[MODEL].url()

    def predict(self, phase: Phase, x: Floats, truth: Floats, label_every: int) -> None:
        answer = self.http.post(f"{self.url}/predict", json={"instances": x.round(3).tolist()})
        answer.raise_for_status()
        first = len(phase.ids)
        for p, y in zip(answer.json()["predictions"], truth, strict=True):
            phase.ids.append(p["prediction_id"])
            phase.predicted.append(p["class"])
            phase.truth.append(CLASSES[int(y)])
        self.label(phase, [i for i in range(first, len(phase.ids)) if i % label_every == 0])

    def label(self, phase: Phase, rows: list[int]) -> None:
        for start in range(0, len(rows), 200):
            chunk = rows[start : start + 200]
            body = [{"prediction_id": phase.ids[i], "label": phase.truth[i]} for i in chunk]
            answer = self.http.post(f"{self.url}/feedback", json={"feedback": body})
            answer.raise_for_status()
            assert answer.json()["counts"]["matched"] == len(chunk), answer.json()
            phase.labelled.update(chunk)

    def send(self, phase: Phase, x: Floats, truth: Floats, label_every: int) -> None:
        """One request of BATCH rows every PACE seconds."""
        for start in range(0, len(x), BATCH):
            began = time.monotonic()
            rows = slice(start, start + BATCH)
            self.predict(phase, x[rows], truth[rows], label_every)
            time.sleep(max(0.0, PACE - (time.monotonic() - began)))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Live]:
    """MLflow, the trained model served, Alertmanager and Prometheus: the live harness's
    starters, on a live spec of one model."""
    from service import train  # noqa: PLC0415 - MLflow and scikit-learn: heavy

    root = tmp_path_factory.mktemp("estimation")
    with ExitStack() as stack:
        sink = WebhookSink(servers.free_port())
        sink.start()
        stack.callback(sink.stop)
        files_root = root / "files"
        spec, secrets = h.live_spec(sink, files_root, (MODEL,), alerts=ALERTS)
        free = servers.free_port
        ports = {c: {"http": free()} for c in (C.MLFLOW, C.PROMETHEUS, C.ALERTMANAGER)}
        endpoints = ep.local(ports, {MODEL: free()}, files_root=str(files_root))
        h.write_rendered(root, render_all(spec, endpoints), secrets)
        live = h.Live(root, spec, endpoints, sink, sink, {}, {}, h.Driver({}), stack)

        def stop_all() -> None:
            for process in live.procs.values():
                process.stop()

        stack.callback(stop_all)
        live.start("mlflow")
        assert train.main(["--tracking-uri", live.mlflow_url, "--model", MODEL]) == 0
        serving = live.start(f"serving-{MODEL}")
        servers.wait_until(servers.http_ok(f"{serving.url}/readyz"), 120, "model ready", serving)
        live.start("alertmanager")
        live.start("prometheus")
        servers.wait_until(lambda: h.targets_up(live), 60, "every target up")
        yield live


def _value(live: h.Live, expr: str, at: float) -> float:
    result = live.query(expr, at)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def _labelled(live: h.Live, at: float) -> dict[str, float]:
    """Labelled predictions so far, right and wrong, from Prometheus."""
    name = catalog.LABELLED_PREDICTIONS.name
    result = live.query(f'sum by (correct) ({name}{{{SERVING},model="{MODEL}"}})', at)
    counts = {"true": 0.0, "false": 0.0}
    counts.update({r["metric"]["correct"]: float(r["value"][1]) for r in result})
    return counts


@dataclass(frozen=True)
class Figures:
    truth: float  # the test's own: every row of the phase
    estimate: float  # Prometheus: the rules' estimated-accuracy query over the phase
    measured: float  # Prometheus: right over labelled predictions made in the phase
    labelled_truth: float  # the test's own, on the rows it labelled
    labelled: int


def _figures(
    live: h.Live, phase: Phase, before: dict[str, float], after: dict[str, float]
) -> Figures:
    window = f"{max(2, round(phase.ended - phase.started))}s"
    selector = f'{SERVING},model="{MODEL}"'
    estimate = _value(live, estimated_accuracy("model", selector, window), phase.ended)
    right, wrong = (after[k] - before[k] for k in ("true", "false"))
    return Figures(phase.accuracy(), estimate, right / (right + wrong),
                   phase.accuracy(phase.labelled), len(phase.labelled))  # fmt: skip


@dataclass(frozen=True)
class Run:
    before: Figures  # in distribution
    after: Figures  # shifted
    estimated_after: float  # seconds from the shift to ServingLowEstimatedAccuracy's notification
    measured_after: float  # ...to ServingLowAccuracy's
    labels_when_estimated: int  # labels sent when the estimate was notified
    late_labels_from: float  # seconds from the shift to the late labels' first


def _notified(live: h.Live, alert: cv.Alert, since: float) -> float | None:
    times = [n.received for n, a in live.sink.alerts(alert.value)
             if a["labels"].get("model") == MODEL and n.received >= since]  # fmt: skip
    return min(times, default=None)


@pytest.fixture(scope="module")
def run(live: h.Live) -> Run:
    world = World.of_iris(SEED)
    with httpx.Client(timeout=10) as http:
        client = Client(live, http)
        warm_up = Phase(time.time())
        x = world.inputs((0, 1, 2), BATCH)
        client.predict(warm_up, x, world.labels(x), 1)  # every series exists before the phases
        time.sleep(SETTLE)
        calm = Phase(time.time())
        x = world.inputs((0, 1, 2), IN_DISTRIBUTION_ROWS)
        client.send(calm, x, world.labels(x), LABEL_EVERY["in distribution"])
        time.sleep(SETTLE)
        calm.ended = time.time()
        start = _labelled(live, calm.started - 0.1)
        end_calm = _labelled(live, calm.ended)
        shifted = Phase(time.time())
        while (estimated := _notified(live, ESTIMATED, shifted.started)) is None:
            assert time.time() - shifted.started < 120, f"{ESTIMATED.value} not notified"
            x = world.boundary(BATCH * 4, SPREAD)
            client.send(shifted, x, world.labels(x), LABEL_EVERY["shifted"])
        assert _notified(live, MEASURED, calm.started) is None
        labels_then = len(warm_up.labelled) + len(calm.labelled) + len(shifted.labelled)
        # The labels arrive late: the rest of the shifted rows', a few hundred at a time.
        late = time.time()
        missing = [i for i in range(len(shifted.ids)) if i not in shifted.labelled]
        while (measured := _notified(live, MEASURED, shifted.started)) is None:
            assert time.time() - late < 60, f"{MEASURED.value} not notified"
            if missing:
                client.label(shifted, missing[:200])
                missing = missing[200:]
            time.sleep(PACE)
        client.label(shifted, missing)
        time.sleep(SETTLE)
        shifted.ended = time.time()
    end = _labelled(live, shifted.ended)
    return Run(
        _figures(live, calm, start, end_calm),
        _figures(live, shifted, end_calm, end),
        estimated - shifted.started,
        measured - shifted.started,
        labels_then,
        late - shifted.started,
    )


def test_a_covariate_shift_that_lowers_accuracy_lowers_the_estimate_with_it(
    live: h.Live, run: Run
) -> None:
    before, after = run.before, run.after
    print(
        f"\nin distribution: estimate {before.estimate:.3f}, true {before.truth:.3f} "
        f"(measured {before.measured:.3f} on {before.labelled} labels)\n"
        f"shifted: estimate {after.estimate:.3f}, true {after.truth:.3f} "
        f"(measured {after.measured:.3f} on {after.labelled} labels)"
    )
    floor = live.spec.alerts.min_accuracy
    assert before.estimate == pytest.approx(before.truth, abs=IN_DISTRIBUTION_TOLERANCE)
    assert before.truth - after.truth > 0.2  # the shift really costs accuracy
    assert after.truth < floor
    assert after.estimate < floor
    assert after.estimate == pytest.approx(after.truth, abs=SHIFTED_TOLERANCE)
    assert before.estimate - after.estimate > (before.truth - after.truth) / 3
    # What Prometheus counted from the feedback is exactly what the test labelled.
    for figures in (before, after):
        assert figures.measured == pytest.approx(figures.labelled_truth, abs=1e-9)


def test_the_estimated_accuracy_alert_fires_before_the_measured_one_has_enough_labels(
    live: h.Live, run: Run
) -> None:
    print(
        f"\nshift -> {ESTIMATED.value} notified after {run.estimated_after:.1f} s "
        f"({run.labels_when_estimated:.0f} labels, {ALERTS['minLabelledPredictions']} needed); "
        f"late labels from {run.late_labels_from:.1f} s -> {MEASURED.value} notified after "
        f"{run.measured_after:.1f} s"
    )
    assert run.labels_when_estimated < live.spec.alerts.min_labelled_predictions
    assert run.estimated_after < run.late_labels_from <= run.measured_after
