"""Faults injected into the live stack, and how long each took to reach a person.

Each fault targets one served model (so its alerts carry that model's label),
starts at a recorded onset, and is judged against what its rule allows:
the rule's `for`, plus the time its expression took to become true at the
injected fault size (read back from Prometheus at 1 s resolution), plus two
scrape-and-evaluation intervals, plus Alertmanager's group_wait.
"""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from mlflow import MlflowClient

from infra import conventions as cv
from infra.alerts import by_name
from infra.render.rules import platform_rules
from infra.units import duration_seconds
from service import catalog
from service.pushing import push
from tests import servers
from tests.live import cgroups as cg
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
    # The labels that tell this fault's alert from others (the model's, unless given).
    labels: dict[str, str] = field(default_factory=dict)
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

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether an alert or series with LABELS is this fault's."""
        return (self.labels or {"model": self.model}).items() <= labels.items()

    @property
    def time_to_notify(self) -> float | None:
        return None if self.notified is None else self.notified - self.onset


def rules(live: h.Live) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(platform_rules(live.spec))
    return {r["alert"]: r for group in document["groups"] for r in group["rules"] if "alert" in r}


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


# --- Saturation: a filesystem filling up, a container near its memory limit.

FILL_FILE = "volume-fill"
EATER = "memory-eater"
# Grows its cgroup's working set (usage less inactive file pages, cAdvisor's figure) to TARGET
# bytes a MiB at a time, then holds it: the container it shares the cgroup with nears its limit.
EATER_SCRIPT = textwrap.dedent("""
    import sys, time
    folder, target = sys.argv[1], int(sys.argv[2])
    def working_set():
        usage = int(open(folder + "/memory.usage_in_bytes").read())
        stat = dict(line.split() for line in open(folder + "/memory.stat"))
        return usage - int(stat["total_inactive_file"])
    held = []
    while working_set() < target:
        held.append(b"x" * (1 << 20))
    print(f"holding {len(held)} MiB, working set {working_set()}", flush=True)
    while True:
        time.sleep(1)
""")
# The container the memory fault fills: the one with the smallest limit (128Mi), little to eat.
EATEN = cv.Component.PUSHGATEWAY.value


@dataclass
class Filler:
    """A file growing steadily to h.Live.fill bytes over h.FILL_SECONDS, allocated (fallocate)
    a step at a time by a thread, until `stop` deletes it."""

    path: Path
    size: int
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _grow(self) -> None:
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            started, done = time.monotonic(), 0
            while done < self.size and not self._stop.is_set():
                elapsed = time.monotonic() - started
                want = min(self.size, int(self.size * elapsed / h.FILL_SECONDS) + (16 << 20))
                if want > done:
                    os.posix_fallocate(fd, done, want - done)
                    done = want
                self._stop.wait(0.2)
        finally:
            os.close(fd)

    def start(self, live: h.Live) -> None:
        live.stack.callback(self.stop, live)  # never left behind
        self._thread = threading.Thread(target=self._grow, daemon=True)
        self._thread.start()

    def stop(self, live: h.Live) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.path.unlink(missing_ok=True)


def _eat(live: h.Live) -> None:
    """A process in the container's cgroup taking it halfway from the alert's ratio to the limit."""
    assert live.cgroups is not None
    group = live.cgroups.groups[EATEN]
    ratio = live.spec.alerts.container_memory_ratio
    target = int(group.memory_limit * (ratio + (1 - ratio) / 2))
    live.procs[EATER] = servers.start(
        EATER,
        [sys.executable, "-c", EATER_SCRIPT, str(group.dir("memory")), str(target)],
        "",
        live.root / f"{EATER}.log",
        wrap=group.wrap,
    )


def _stop_eating(live: h.Live) -> None:
    live.procs.pop(EATER).stop()


def mountpoint(live: h.Live, path: Path) -> str:
    """The mount point node-exporter reports that holds PATH."""
    found = {
        r["metric"]["mountpoint"]
        for r in live.query('node_filesystem_avail_bytes{job="node-exporter"}')
    }
    holding = [m for m in found if m == "/" or str(path) == m or str(path).startswith(f"{m}/")]
    assert holding, (path, found)
    return str(max(holding, key=len))


def receiver_of(severity: cv.Severity) -> str:
    """Where the live profile's route sends a severity."""
    return "oncall" if severity in (cv.Severity.CRITICAL, cv.Severity.PAGE) else "team"


def saturation_faults(live: h.Live) -> tuple[list[Fault], list[str]]:
    """The saturation faults this stack can run, and why any other cannot: each needs its alert
    among the stack's (infra.alerts), the memory fault also the live processes' cgroups."""
    alerts = by_name(live.spec)
    faults, missing = [], []
    fs = alerts.get(A.NODE_FILESYSTEM_FILLING_UP.value)
    if fs is None or not fs.enabled:
        missing.append(f"{A.NODE_FILESYSTEM_FILLING_UP.value} is not among the stack's alerts")
    else:
        filler = Filler(live.root / FILL_FILE, live.fill)
        faults.append(Fault(
            "filling volume", "", A.NODE_FILESYSTEM_FILLING_UP, receiver_of(fs.severity),
            filler.start, filler.stop, labels={"mountpoint": mountpoint(live, live.root)},
        ))  # fmt: skip
    memory = alerts.get(A.CONTAINER_MEMORY_NEAR_LIMIT.value)
    if memory is None or not memory.enabled:
        missing.append(f"{A.CONTAINER_MEMORY_NEAR_LIMIT.value} is not among the stack's alerts")
    elif live.cgroups is None:
        missing.append(f"{A.CONTAINER_MEMORY_NEAR_LIMIT.value}: no cgroups ({cg.unavailable()})")
    else:
        faults.append(Fault(
            "memory near limit", "", A.CONTAINER_MEMORY_NEAR_LIMIT, receiver_of(memory.severity),
            _eat, _stop_eating, labels={cv.COMPONENT_LABEL: EATEN},
        ))  # fmt: skip
    return faults, missing


def _expression_true(live: h.Live, fault: Fault) -> float | None:
    expr = rules(live)[fault.alert.value]["expr"]
    end = time.time()
    for series in live.query_range(expr, fault.onset, end, h.SCRAPE):
        if fault.matches(series["metric"]):
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
                    if fault.matches(a["labels"]) and n.received >= fault.onset
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
                    if fault.matches(a["labels"]) and n.received >= fault.stopped
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
