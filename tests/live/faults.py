"""Faults injected into the live stack, and how long each took to reach a person.

Each fault targets one served model (so its alerts carry that model's label),
starts at a recorded onset, and is judged against what its rule allows:
the rule's `for`, plus the time its expression took to become true at the
injected fault size (read back from Prometheus at 1 s resolution), plus two
scrape-and-evaluation intervals, plus Alertmanager's group_wait.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from mlflow import MlflowClient

from infra import conventions as cv
from infra.render.rules import platform_rules
from infra.units import duration_seconds
from service import catalog
from service.pushing import push
from tests import servers
from tests.live import harness as h
from tests.live.chaos import set_fault

A = cv.Alert


@dataclass
class Fault:
    name: str
    model: str
    alert: A
    receiver: str  # where the alert's severity routes
    start: Callable[[h.Live], None]
    stop: Callable[[h.Live], None]
    also: frozenset[str] = frozenset()  # other alerts this fault may raise for its model
    onset: float = 0.0
    stopped: float = 0.0
    true_at: float | None = None  # when the rule's expression first held
    notified: float | None = None
    resolved: float | None = None
    notes: list[str] = field(default_factory=list)

    def allowed(self, live: h.Live) -> float:
        """Seconds from onset the rule allows: crossing + for + 2 intervals + group_wait."""
        rule = rules(live)[self.alert.value]
        crossing = (self.true_at or self.onset) - self.onset
        return (
            crossing + float(duration_seconds(rule.get("for", "0s"))) + 4 * h.SCRAPE + h.GROUP_WAIT
        )

    @property
    def time_to_notify(self) -> float | None:
        return None if self.notified is None else self.notified - self.onset


def rules(live: h.Live) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(platform_rules(live.spec))
    return {r["alert"]: r for group in document["groups"] for r in group["rules"]}


def _unavailable_start(live: h.Live) -> None:
    """A replica restarted while its model's alias points nowhere: up, but nothing to serve."""
    MlflowClient(live.mlflow_url).delete_registered_model_alias(h.UNAVAILABLE, "champion")
    live.stop(f"serving-{h.UNAVAILABLE}")
    live.start(f"serving-{h.UNAVAILABLE}")


def _unavailable_stop(live: h.Live) -> None:
    client = MlflowClient(live.mlflow_url)
    versions = client.search_model_versions(f"name='{h.UNAVAILABLE}'")
    latest = max(int(v.version) for v in versions)
    client.set_registered_model_alias(h.UNAVAILABLE, "champion", str(latest))


def _push_training(live: h.Live, finished: float) -> None:
    group = {"model": h.STEADY}
    push(
        live.pushgateway_url,
        catalog.TRAINING_JOB,
        group,
        [(catalog.TRAINING_LAST_SUCCESS, group, finished)],
        replace=False,
    )


def _unshift(live: h.Live) -> None:
    live.driver.shift.pop(h.DRIFT, None)


def catalog_faults() -> list[Fault]:
    return [
        Fault(
            "error burst",
            h.ERRORS,
            A.SERVING_HIGH_ERROR_RATIO,
            "oncall",
            lambda live: set_fault(live.control[h.ERRORS], "error"),
            lambda live: set_fault(live.control[h.ERRORS], None),
        ),
        Fault(
            "added latency",
            h.LATENCY,
            A.SERVING_HIGH_LATENCY_P95,
            "team",
            lambda live: set_fault(live.control[h.LATENCY], "latency 1.5"),
            lambda live: set_fault(live.control[h.LATENCY], None),
        ),
        Fault(
            "shifted inputs",
            h.DRIFT,
            A.SERVING_FEATURE_DRIFT,
            "team",
            lambda live: live.driver.shift.__setitem__(h.DRIFT, 3.0),
            _unshift,
            # Inputs far from the training data also make the model unsure.
            also=frozenset({A.SERVING_LOW_CONFIDENCE.value}),
        ),
        Fault(
            "stale model",
            h.STEADY,
            A.TRAINING_MODEL_STALE,
            "team",
            lambda live: _push_training(live, time.time() - 30 * 86400),
            lambda live: _push_training(live, time.time()),
        ),
        Fault(
            "model unavailable",
            h.UNAVAILABLE,
            A.SERVING_MODEL_NOT_LOADED,
            "oncall",
            _unavailable_start,
            _unavailable_stop,
            # Nothing balances traffic away from the replica here: its callers get 503s.
            also=frozenset({A.SERVING_HIGH_ERROR_RATIO.value}),
        ),
    ]


def _expression_true(live: h.Live, fault: Fault) -> float | None:
    expr = rules(live)[fault.alert.value]["expr"]
    end = time.time()
    for series in live.query_range(expr, fault.onset, end, h.SCRAPE):
        if series["metric"].get("model") == fault.model:
            return float(series["values"][0][0])
    return None


def run(live: h.Live, faults: list[Fault], timeout: float = 90) -> list[Fault]:
    """Start every fault, wait for each firing notification, stop them, wait for each resolution."""
    for fault in faults:
        fault.onset = time.time()
        fault.start(live)

    def notified() -> bool:
        for fault in faults:
            if fault.notified is None:
                hits = [
                    n for n, a in live.sink.alerts(fault.alert.value)
                    if a["labels"].get("model") == fault.model and n.received >= fault.onset
                ]  # fmt: skip
                if hits:
                    fault.notified = hits[0].received
        return all(f.notified is not None for f in faults)

    with contextlib.suppress(TimeoutError):  # the test names the faults without one
        servers.wait_until(notified, timeout, "a notification for every fault")
    for fault in faults:
        fault.true_at = _expression_true(live, fault)
        fault.stopped = time.time()
        fault.stop(live)

    def resolved() -> bool:
        for fault in faults:
            if fault.resolved is None:
                hits = [
                    n for n, a in live.sink.alerts(fault.alert.value, "resolved")
                    if a["labels"].get("model") == fault.model and n.received >= fault.stopped
                ]  # fmt: skip
                if hits:
                    fault.resolved = hits[0].received
        return all(f.resolved is not None for f in faults)

    with contextlib.suppress(TimeoutError):
        servers.wait_until(resolved, timeout, "a resolved notification for every fault")
    return faults


def table(live: h.Live, faults: list[Fault]) -> str:
    lines = [f"{'fault':<18}{'alert':<34}{'notify s':>9}{'allowed s':>10}{'resolve s':>10}"]
    for f in faults:
        notify = f"{f.time_to_notify:.1f}" if f.time_to_notify is not None else "-"
        resolve = f"{f.resolved - f.stopped:.1f}" if f.resolved else "-"
        lines.append(
            f"{f.name:<18}{f.alert.value:<34}{notify:>9}{f.allowed(live):>10.1f}{resolve:>10}"
        )
    return "\n".join(lines)
