"""A synthetic fleet of served models for bench/scale.py: the catalog's series, many targets, one process.

    uv run python bench/scale_exporter.py PORTS.json

Each served model's replicas expose what a serving pod exposes (our ML metrics and
BentoML's request metrics, `service.catalog` Source.SERVING and Source.BENTOML), and
one port answers like the Pushgateway with each model's pushed groups (training,
drift, deployment, grouped by `model`, with `push_time_seconds`). Names, label names
and the bounded label values all come from the catalog; values follow a plausible
day: counters grow at steady rates, histograms spread their counts over the buckets
of a log-normal latency or a skewed confidence, and every tenth model (the first
among them) is unwell (5xx, slow, unsure, less accurate, a drifted feature, a failed
and stale training) so the alerts and recording rules have something to say.

Series carry only the labels the process itself writes: `job` and `instance` (and
the serving target's `model`) are Prometheus' to add from the rendered scrape config,
as on a real pod; pushed series carry the pusher's `job` and an empty `instance`, as
the Pushgateway exposes them. PORTS.json maps each model to its replicas' ports and
names the Pushgateway's port; every port listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import catalog as c

# BentoML's own label values on a pod of our service (service.app's class, no bento version).
BENTO_LABELS = {"service_name": "Serving", "service_version": "not available"}
RUNNER = "Serving"
ALIAS = "champion"
VERSIONS = ("7", "6")  # served, and the one before it (its counters stay until a restart)
PROBES_PER_SECOND = 0.1  # the kubelet's liveness and readiness probes, every 10 s
PROBES = ("/livez", "/readyz")
FEEDBACK_SHARE = 0.3  # predictions whose true label comes back
UNWELL_EVERY = 10


@dataclass(frozen=True, slots=True)
class Series:
    """One exposed series: value = start + rate x seconds since the exporter started."""

    metric: c.Metric | None  # None: the Pushgateway's own series
    name: str
    labels: tuple[tuple[str, str], ...]
    start: float
    rate: float = 0.0

    def line(self, elapsed: float) -> str:
        labels = ",".join(f'{k}="{v}"' for k, v in self.labels)
        return f"{self.name}{{{labels}}} {self.start + self.rate * elapsed:.10g}"


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What one served model looks like: its name, shape, traffic and health."""

    name: str
    classes: int = 5
    features: int = 20
    requests_per_second: float = 5.0  # on /predict, per replica
    unwell: bool = False

    @property
    def accuracy(self) -> float:
        return 0.7 if self.unwell else 0.92

    @property
    def error_share(self) -> float:
        return 0.08 if self.unwell else 0.002

    @property
    def median_latency(self) -> float:
        return 0.6 if self.unwell else 0.012


def profile(index: int, name: str, classes: int = 5, features: int = 20) -> ModelProfile:
    """The index-th model of a fleet: traffic from 1 to 20 requests/s, every tenth unwell."""
    rps = (1.0, 2.0, 5.0, 10.0, 20.0)[index % 5]
    return ModelProfile(name, classes, features, rps, unwell=index % UNWELL_EVERY == 0)


def lognormal_cdf(x: float, median: float, sigma: float = 0.7) -> float:
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def histogram(
    metric: c.Metric,
    labels: dict[str, str],
    per_second: float,
    cdf: Callable[[float], float],
    mean: float,
) -> Iterator[Series]:
    """A histogram's buckets (cumulative, +Inf last), _count and _sum growing at per_second."""
    base = tuple(labels.items())
    for bound in metric.buckets:
        le = (("le", format(bound, "g")),)
        yield Series(metric, f"{metric.name}_bucket", base + le, 0, per_second * cdf(bound))
    yield Series(metric, f"{metric.name}_bucket", (*base, ("le", "+Inf")), 0, per_second)
    yield Series(metric, f"{metric.name}_count", base, 0, per_second)
    yield Series(metric, f"{metric.name}_sum", base, 0, per_second * mean)


def _statuses(p: ModelProfile) -> dict[str, dict[int, float]]:
    """Requests per second of one replica, by route and status code."""
    predict = p.requests_per_second
    errors = predict * p.error_share
    return {
        c.PREDICT_ROUTE: {
            200: predict - errors - 0.02 * predict,
            400: 0.01 * predict,
            422: 0.01 * predict,
            500: errors * 0.7,
            503: errors * 0.3,
        },
        "/feedback": {200: predict * FEEDBACK_SHARE * 0.99, 400: predict * FEEDBACK_SHARE * 0.01},
        "/livez": {200: PROBES_PER_SECOND},
        "/readyz": {200: PROBES_PER_SECOND},
    }


def request_series(p: ModelProfile) -> Iterator[Series]:
    """BentoML's request counter, latency histogram and in-flight gauge."""
    for route, codes in _statuses(p).items():
        median = 0.001 if route in PROBES else p.median_latency
        common = {"endpoint": route, **BENTO_LABELS}
        for code, rate in codes.items():
            labels = {**common, "http_response_code": str(code), "runner_name": RUNNER}
            yield Series(c.REQUEST_TOTAL, c.REQUEST_TOTAL.name, tuple(labels.items()), 0, rate)
            cdf = partial(lognormal_cdf, median=median)
            yield from histogram(c.REQUEST_DURATION, labels, rate, cdf, median * 1.28)
        in_flight = sum(codes.values()) * median
        labels = {**common, "runner_name": RUNNER}
        yield Series(
            c.REQUEST_IN_PROGRESS, c.REQUEST_IN_PROGRESS.name, tuple(labels.items()), in_flight
        )


def gauge(metric: c.Metric, value: float, **labels: str) -> Series:
    return Series(metric, metric.name, tuple(labels.items()), value)


def counter(metric: c.Metric, rate: float, start: float = 0.0, **labels: str) -> Series:
    return Series(metric, metric.name, tuple(labels.items()), start, rate)


def class_shares(classes: int) -> list[float]:
    """A skewed class balance (1/k, normalised)."""
    weights = [1 / (k + 1) for k in range(classes)]
    return [w / sum(weights) for w in weights]


# Confidence with CDF b^k on [0, 1], whose mean is k/(k+1): 0.85 when well, 0.55 when not.
CONFIDENCE_SHAPE = {False: 5.7, True: 1.2}


def confidence_cdf(bound: float, shape: float) -> float:
    return float(bound**shape)


def prediction_series(p: ModelProfile) -> Iterator[Series]:
    """Predictions by version and class, their confidence and calibrated expected-correct sums."""
    m, (served, previous) = p.name, VERSIONS
    rate = p.requests_per_second
    for version, (per_second, start) in {served: (rate, 0.0), previous: (0.0, 50_000.0)}.items():
        for k, share in enumerate(class_shares(p.classes)):
            yield counter(c.PREDICTIONS, per_second * share, start * share, model=m,
                          model_version=version, predicted_class=f"class_{k}")  # fmt: skip
        labels = {"model": m, "model_version": version}
        shape = CONFIDENCE_SHAPE[p.unwell]
        cdf = partial(confidence_cdf, shape=shape)
        yield from histogram(c.PREDICTION_CONFIDENCE, labels, per_second, cdf, shape / (shape + 1))
        yield counter(c.EXPECTED_CORRECT_PREDICTIONS, per_second * p.accuracy, start * 0.9,
                      model=m, model_version=version, calibrated="true")  # fmt: skip


def feedback_series(p: ModelProfile) -> Iterator[Series]:
    """Feedback outcomes, labelled predictions by correctness, rolling accuracy and F1."""
    m, (served, previous) = p.name, VERSIONS
    labelled = p.requests_per_second * FEEDBACK_SHARE
    yield counter(c.FEEDBACK, labelled, model=m, outcome="matched")
    yield counter(c.FEEDBACK, labelled * 0.01, model=m, outcome="unknown_id")
    for version, rate, accuracy in ((served, labelled, p.accuracy), (previous, 0.0, 0.9)):
        for correct, share in (("true", accuracy), ("false", 1 - accuracy)):
            yield counter(c.LABELLED_PREDICTIONS, rate * share, 10_000 * share, model=m,
                          model_version=version, correct=correct)  # fmt: skip
        yield gauge(c.MODEL_ACCURACY, accuracy, model=m, model_version=version)
        yield gauge(c.MODEL_MACRO_F1, accuracy - 0.03, model=m, model_version=version)
    yield gauge(c.FEEDBACK_PENDING, 5000, model=m)


def model_state_series(p: ModelProfile) -> Iterator[Series]:
    """The version served, loaded or not, load failures, rejections and live drift."""
    m, (served, previous) = p.name, VERSIONS
    yield gauge(c.MODEL_INFO, 1, model=m, model_version=served, model_alias=ALIAS)
    yield gauge(c.MODEL_INFO, 0, model=m, model_version=previous, model_alias=ALIAS)
    yield gauge(c.MODEL_LOADED, 1, model=m)
    yield counter(c.MODEL_LOAD_FAILURES, 0.0, 2, model=m, reason="registry_unreachable")
    for reason, share in (
        ("wrong_feature_count", 0.01),
        ("malformed_json", 0.005),
        ("not_finite", 0.002),
    ):
        yield counter(c.REJECTED_INPUTS, p.requests_per_second * share, model=m, reason=reason)
    for f in range(p.features):
        psi = 0.35 if p.unwell and f == 0 else 0.02 + 0.004 * (f % 10)
        yield gauge(c.FEATURE_DRIFT_PSI, psi, model=m, feature=f"feature_{f}")


def serving_series(p: ModelProfile) -> list[Series]:
    """Everything one serving replica of the model exposes."""
    parts: Iterable[Iterator[Series]] = (
        request_series(p),
        model_state_series(p),
        prediction_series(p),
        feedback_series(p),
    )
    return [s for part in parts for s in part]


def pushed(family: c.Metric, job: str, value: float, **labels: str) -> Series:
    return Series(family, family.name, (("job", job), ("instance", ""), *labels.items()), value)


def push_times(job: str, model: str, now: float, age: float) -> list[Series]:
    """The Pushgateway's own series of one group: last push, and last failed push (never)."""
    group = (("job", job), ("instance", ""), ("model", model))
    return [
        Series(None, "push_time_seconds", group, now - age),
        Series(None, "push_failure_time_seconds", group, 0),
    ]


def training_group(p: ModelProfile, now: float) -> list[Series]:
    j, m = c.TRAINING_JOB, p.name
    age = 8 * 86400 if p.unwell else 2 * 86400
    return [
        pushed(c.TRAINING_LAST_SUCCESS, j, now - age, model=m),
        pushed(c.TRAINING_LAST_RUN_SUCCESS, j, 0 if p.unwell else 1, model=m),
        pushed(c.TRAINING_DURATION, j, 340, model=m),
        *(pushed(c.TRAINING_SCORE, j, p.accuracy, model=m, metric=s) for s in c.TRAINING_SCORES),
        *push_times(j, m, now, 3600),
    ]


def drift_group(p: ModelProfile, now: float) -> list[Series]:
    j, m = c.DRIFT_JOB, p.name
    out = []
    for f in range(p.features):
        drifted = p.unwell and f == 0
        feature = f"feature_{f}"
        out += [
            pushed(c.DRIFT_FEATURE_PSI, j, 0.4 if drifted else 0.03, model=m, feature=feature),
            pushed(c.DRIFT_FEATURE_PVALUE, j, 0.001 if drifted else 0.4, model=m, feature=feature),
            pushed(c.DRIFT_FEATURE_DRIFTED, j, float(drifted), model=m, feature=feature),
        ]
    out += [
        pushed(c.DRIFT_DATASET_DRIFTED, j, 0, model=m),
        pushed(c.DRIFT_LAST_RUN, j, now - 1800, model=m),
    ]
    return out + push_times(j, m, now, 1800)


def deployment_group(p: ModelProfile, now: float) -> list[Series]:
    j, m = c.DEPLOYMENT_JOB, p.name
    move = pushed(
        c.MODEL_DEPLOYMENT, j, now - 86400, model=m, model_version=VERSIONS[0], action="promote"
    )
    return [move, *push_times(j, m, now, 86400)]


def pushed_series(p: ModelProfile, now: float) -> list[Series]:
    """Everything the batch jobs keep on the Pushgateway for one model."""
    return training_group(p, now) + drift_group(p, now) + deployment_group(p, now)


def exposition(series: Iterable[Series], elapsed: float) -> bytes:
    """The text exposition format (0.0.4) of the series, grouped by metric name."""
    lines: list[str] = []
    typed: set[str] = set()
    for s in sorted(series, key=lambda s: s.name):
        family, kind = (s.metric.name, s.metric.kind.value) if s.metric else (s.name, "gauge")
        if family not in typed:
            typed.add(family)
            lines.append(f"# TYPE {family} {kind}")
        lines.append(s.line(elapsed))
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Fleet:
    """Which port serves what: each model's replicas, and the Pushgateway."""

    serving: dict[str, list[int]]
    pushgateway: int
    classes: int = 5
    features: int = 20

    def profiles(self) -> list[ModelProfile]:
        return [
            profile(i, name, self.classes, self.features) for i, name in enumerate(self.serving)
        ]

    def pages(self, started: float) -> dict[int, Callable[[], bytes]]:
        """Port -> what a scrape of it answers, at the time of the scrape."""

        def page(series: list[Series]) -> Callable[[], bytes]:
            return lambda: exposition(series, time.time() - started)

        pages = {
            self.pushgateway: page([s for p in self.profiles() for s in pushed_series(p, started)])
        }
        for p in self.profiles():
            replica = page(serving_series(p))
            pages.update(dict.fromkeys(self.serving[p.name], replica))
        return pages


HEADER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: %d\r\n\r\n"


async def answer(
    page: Callable[[], bytes], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer every GET on a kept-alive connection with the page."""
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            body = page()
            writer.write(HEADER % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(fleet: Fleet) -> None:
    pages = fleet.pages(time.time())
    servers = [
        await asyncio.start_server(partial(answer, page), "127.0.0.1", port)
        for port, page in pages.items()
    ]
    print(f"serving {len(servers)} ports", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str]) -> int:
    (path,) = argv
    fleet = Fleet(**json.loads(Path(path).read_text()))
    asyncio.run(serve(fleet))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
