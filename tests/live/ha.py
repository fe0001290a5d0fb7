"""The live HA tier: a Prometheus pair and a three-peer Alertmanager cluster on 127.0.0.1.

What runs: the Pushgateway, TWO Prometheus replicas and THREE Alertmanager peers, started
from the files the renderers write and with the flags the service plans give them
(`infra.components.services.prometheus`/`alertmanager` Workload args: retention, the
for-grace-period, the gossip peers and timings), only the listen ports and the config and
data paths rewritten per replica (`localized`). Each Prometheus replica gets
`POD_NAME=<its StatefulSet pod name>`, which the rendered external label expands; every
Alertmanager peer is in the rendered `alerting` config, and every peer lists every peer.
Notifications reach the live tier's webhook sinks (tests/live/sink.py).

The spec: the live profile (`harness.live_spec`) with, as spec settings, short gossip
timings (peerTimeout 1s, gossipInterval 200ms, pushpullInterval 5s), repeats every 12 s
(groupInterval 3s, repeatInterval 10.5s: the fourth tick; the heartbeat's 12s interval
renders the same pair), a 5s forGracePeriod, a 30s `for` on TrainingJobFailed, and PlatformTargetDown
disabled (this tier stops its own processes on purpose, and serves no model: the rendered
serving job's one target is down by design). The last peer's wait (2 x 1s) is shorter than
the group interval: with a 2s timeout against 2s or 3s intervals, duplicated repeats came
every few periods (see GROUP_INTERVAL). The docker target refuses `prometheus.replicas > 1`,
because docker gives its containers no pod name for the replica label
(infra/spec/platform.py); that check stays as it is for users. This tier runs the processes
itself and gives each replica its pod name, so `ha_spec` loads the dev profile through the
ordinary validation and then sets `replicas` on its Prometheus section alone, re-validated
on its own: only the docker-target check is stepped around, and only here.

The alerts: no serving replica runs (MLflow, training and a BentoML replica would double
the tier's time). Alerts are started and stopped exactly by pushing training series to the
Pushgateway, one model label per alert group: TrainingModelStale (a success timestamp 30
days old; `for` 5s) for the groups the faults count, TrainingJobFailed (last run 0; `for`
30s) for the pending alert of the restart fault; and the Watchdog, always firing, repeated
to the heartbeat sink. Prometheus drops what its first evaluations raise (its notifier has
not found the peers yet) and sends it again after its resend delay, a minute: the Watchdog
reaches the peers then, hence the order of the faults (FAULTS).

Counting (`count`), per (receiver, group labels) over a fault's window, each notification
judged from the group's one before: Alertmanager repeats an unchanged group no sooner than
repeat_interval after its last notification (the notification log, gossiped, tells every
peer), so one sooner is DUPLICATED; every live peer checks once a tick, so a repeat comes
by LATEST (repeat_interval, a tick, a second), and each repeat_interval beyond with nothing
is LOST, as is a fresh group never notified; EXPECTED is delivered - duplicated + lost.

The faults (`FAULTS`; tests/live/test_ha.py asserts them, bench/live_ha.py prints them),
each with the steady alert and the Watchdog firing and a fresh alert started at its onset:
a. the Alertmanager at cluster position 0 (the one that sends first) SIGKILLed, restarted
   after: 0 lost, and 0 duplicated once the survivors agree on the membership (`watched`
   polls their views); before that both may take one position and send (a membership
   change: at-least-once), so duplicates are counted, and must fall inside that window;
b. a Prometheus SIGKILLed (the other sends), restarted within the window (its alerts sent
   again to every peer): 0 duplicated, 0 lost;
c. the peer at position 0 SIGSTOPped for 12s (twelve peer timeouts, more than a repeat
   interval), then SIGCONT: in a split Alertmanager promises at-least-once delivery, so
   0 lost, and duplicates are possible and counted (the resumed peer sends what its stale
   log does not show sent);
d. a Prometheus restarted while TrainingJobFailed is pending in its 30s `for`: it fires
   when the untouched replica does, shifted by its downtime (its `for` state restored from
   ALERTS_FOR_STATE), not half a `for` later as it would starting over;
e. a silence created on one peer holds on every peer (GET shows it; the silenced alert is
   never notified, a control alert started with it is) and after that peer's restart (its
   snapshot on its data dir holds the silence).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from infra import conventions as cv
from infra import endpoints as ep
from infra.components import services
from infra.render import render_all
from infra.spec import PlatformSpec, Prometheus
from infra.units import duration_seconds
from service import catalog
from service.pushing import push
from tests import servers, tools
from tests.live import harness as h
from tests.live.sink import WebhookSink
from tests.service.pushgateway import BINARY as PUSHGATEWAY

C = cv.Component
A = cv.Alert
PROMETHEUS_REPLICAS = 2
PEERS = 3
PEER_TIMEOUT = "1s"
# Every peer's wait (its position times the peer timeout) shorter than the group interval:
# a peer checks the notification log that long after its tick, and a wait of a whole
# interval or more lands its check on the first peer's next tick, where both find a repeat
# due and both send it (measured with a 2s timeout and 2s or 3s intervals: duplicated
# repeats every few periods).
GROUP_INTERVAL = "3s"
REPEAT_INTERVAL = "10500ms"
HEARTBEAT = "12s"  # the Watchdog's route: ticks of 3s, repeat_interval 10.5s
FOR_GRACE_PERIOD = "5s"
PENDING_FOR = "30s"
STALE = A.TRAINING_MODEL_STALE  # what the faults start and stop (the profile's 5 s `for`)
PENDING = A.TRAINING_JOB_FAILED  # the alert pending across a restart (PENDING_FOR)
UNSERVED = "ha-unserved"  # the spec's one served model; nothing serves it here
STEADY = "ha-steady"  # the group firing through every fault
SPLIT = 12.0  # seconds a peer is stopped in fault c
PROFILE: dict[str, Any] = {
    "mlops:prometheus": {"forGracePeriod": FOR_GRACE_PERIOD},
    "mlops:alertmanager": {
        "replicas": PEERS,
        "gossip": {"peerTimeout": PEER_TIMEOUT, "gossipInterval": "200ms",
                   "pushpullInterval": "5s"},
        "route": {"groupInterval": GROUP_INTERVAL, "repeatInterval": REPEAT_INTERVAL},
        "heartbeat": {"interval": HEARTBEAT},
    },
    "mlops:alertOverrides": {PENDING.value: {"for": PENDING_FOR},
                             A.TARGET_DOWN.value: {"disabled": True}},
}  # fmt: skip


GROUP_TICK = max(float(duration_seconds(GROUP_INTERVAL)), float(duration_seconds(HEARTBEAT)) / 4)
# Alertmanager repeats an unchanged group at the first group tick at least repeat_interval
# after its last notification (the heartbeat route: 7/8 of its interval, ticks of 1/4,
# infra.spec.Heartbeat.timings): never sooner than REPEAT, so an earlier one is a
# duplicate (less a second for delivery)...
REPEAT = float(duration_seconds(REPEAT_INTERVAL))
assert float(duration_seconds(HEARTBEAT)) * 7 / 8 == REPEAT, "one repeat interval for all"
DUPLICATE_WITHIN = REPEAT - 1.0
# ...and by LATEST at the latest: every live peer checks once a tick (its position's wait
# shifts its ticks, not their spacing), so the first check past repeat_interval comes
# within a tick; and a second of delivery.
WAITS = (PEERS - 1) * float(duration_seconds(PEER_TIMEOUT))
assert float(duration_seconds(GROUP_INTERVAL)) > WAITS, "the last peer's wait within a tick"
LATEST = REPEAT + GROUP_TICK + 1.0
# From a push to the first notification: a scrape and an evaluation, the `for`, an
# evaluation, group_wait, the wait of the last peer position, a second; duplicates of a
# first notification come within SETTLE of it.
NOTIFY = 3 * h.SCRAPE + float(duration_seconds(h.FOR)) + h.GROUP_WAIT + WAITS + 1.0
SETTLE = GROUP_TICK + WAITS + 1.0


def ha_spec(
    sink: WebhookSink, heartbeat: WebhookSink, files_root: Path
) -> tuple[PlatformSpec, dict[str, str]]:
    """The HA profile (see the module docstring) and its secret values."""
    spec, secrets = h.live_spec(
        sink, files_root, models=(UNSERVED,), heartbeat=heartbeat, extra=PROFILE
    )
    pair = Prometheus.model_validate(
        spec.prometheus.model_dump() | {"replicas": PROMETHEUS_REPLICAS}
    )
    return spec.model_copy(update={"prometheus": pair}), secrets


def localized(
    args: Sequence[str], paths: Mapping[str, Path], ports: Mapping[str, int]
) -> list[str]:
    """A plan's ARGS with each flag in PATHS given that path and each flag in PORTS (a
    host:port value) that port on its host; every one of them must be among ARGS."""
    out, seen = [], set()
    for arg in args:
        flag, sep, value = arg.partition("=")
        if sep and flag in paths:
            out.append(f"{flag}={paths[flag]}")
        elif sep and flag in ports:
            out.append(f"{flag}={value.rpartition(':')[0]}:{ports[flag]}")
        else:
            out.append(arg)
        seen.add(flag)
    missing = (set(paths) | set(ports)) - seen
    if missing:
        raise ValueError(f"the plan has no {', '.join(sorted(missing))}: {list(args)}")
    return out


@dataclass
class HA:
    root: Path
    spec: PlatformSpec
    endpoints: ep.Endpoints
    inputs: services.Inputs
    sink: WebhookSink  # the team and oncall receivers
    heartbeat: WebhookSink
    procs: dict[str, servers.Server] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def url(self, component: C, index: int = 0) -> str:
        return self.endpoints[component].replicas[index].url()

    @property
    def pushgateway_url(self) -> str:
        return self.endpoints[C.PUSHGATEWAY].url()

    def _argv(self, name: str) -> tuple[list[str], dict[str, str]]:
        """Command line and environment of process NAME (`prometheus-1`, `alertmanager-0`,
        `pushgateway`), from the service plans."""
        folder = self.root / name
        if name == C.PUSHGATEWAY.value:
            folder.mkdir(parents=True, exist_ok=True)
            args = localized(services.pushgateway(self.inputs).args,
                             {"--persistence.file": folder / "pushgateway.db"},
                             {"--web.listen-address": self.endpoints[C.PUSHGATEWAY].ports["http"]})  # fmt: skip
            return [str(PUSHGATEWAY), *args], {}
        component, _, index = name.rpartition("-")
        replica = self.endpoints[C(component)].replicas[int(index)]
        if component == C.PROMETHEUS.value:
            args = localized(services.prometheus(self.inputs).args, {
                "--config.file": self.root / "prometheus" / "config" / cv.PROMETHEUS_CONFIG,
                "--storage.tsdb.path": folder / "data",
            }, {"--web.listen-address": replica.ports["http"]})  # fmt: skip
            return [str(tools.prometheus()), *args], {"POD_NAME": self.pod(name)}
        args = localized(services.alertmanager(self.inputs).args, {
            "--config.file": self.root / "alertmanager" / "config" / cv.ALERTMANAGER_CONFIG,
            "--storage.path": folder / "data",
        }, {"--web.listen-address": replica.ports["http"],
            "--cluster.listen-address": replica.ports["cluster"]})  # fmt: skip
        return [str(tools.alertmanager()), *args], {}

    def pod(self, name: str) -> str:
        """The pod name a StatefulSet gives replica NAME: `mlops-live-prometheus-0`."""
        return f"{ep.resource_name(self.spec, name.rpartition('-')[0])}-{name.rpartition('-')[2]}"

    def launch(self, name: str) -> Callable[[], bool]:
        """Start process NAME; returns its readiness check."""
        argv, env = self._argv(name)
        url = f"http://{argv_address(argv)}"
        folder = self.root / name
        self.procs[name] = servers.start(
            name, argv, url, folder / f"{name}.log", env=env, cwd=folder.parent
        )
        return servers.http_ok(f"{url}/-/ready")

    def start(self, *names: str) -> None:
        """Start NAMES at once, then wait until each is ready."""
        ready = {name: self.launch(name) for name in names}
        for name, check in ready.items():
            servers.wait_until(check, 60, f"{name} ready", self.procs[name])

    def stop(self, name: str) -> None:
        self.procs[name].stop()

    def signal(self, name: str, sig: signal.Signals) -> None:
        process = self.procs[name].process
        os.killpg(process.pid, sig)
        if sig is signal.SIGKILL:
            process.wait(10)


def argv_address(argv: Sequence[str]) -> str:
    """The address a process' --web.listen-address names."""
    return next(a.partition("=")[2] for a in argv if a.startswith("--web.listen-address="))


PROMETHEUSES = tuple(f"prometheus-{i}" for i in range(PROMETHEUS_REPLICAS))
ALERTMANAGERS = tuple(f"alertmanager-{i}" for i in range(PEERS))


def _endpoints(files_root: Path) -> ep.Endpoints:
    prometheus = [{"http": servers.free_port()} for _ in range(PROMETHEUS_REPLICAS)]
    alertmanager = [{"http": servers.free_port(), "cluster": servers.free_port()}
                    for _ in range(PEERS)]  # fmt: skip
    ports = {C.PROMETHEUS: prometheus[0], C.ALERTMANAGER: alertmanager[0],
             C.PUSHGATEWAY: {"http": servers.free_port()}}  # fmt: skip
    return ep.local(ports, {UNSERVED: servers.free_port()}, files_root=str(files_root),
                    replicas={C.PROMETHEUS: prometheus, C.ALERTMANAGER: alertmanager})  # fmt: skip


@contextmanager
def running(root: Path) -> Iterator[HA]:
    """The HA tier, ready: every peer in the cluster, every replica scraping, the steady
    alert notified. (The Watchdog reaches the peers a minute on, `watchdog_notified`.)"""
    with ExitStack() as stack:
        sink, heartbeat = WebhookSink(servers.free_port()), WebhookSink(servers.free_port())
        for s in (sink, heartbeat):
            s.start()
            stack.callback(s.stop)
        spec, secrets = ha_spec(sink, heartbeat, root / "files")
        endpoints = _endpoints(root / "files")
        files = render_all(spec, endpoints)
        h.write_rendered(root, files, secrets)
        # The program passes secret Outputs; the plans only carry them, and this tier wrote
        # the values itself (write_rendered).
        blank: dict[str, Any] = dict.fromkeys(secrets)
        ha = HA(root, spec, endpoints, services.Inputs(spec, endpoints, files, blank, servers.ROOT),
                sink, heartbeat)  # fmt: skip

        def stop_all() -> None:
            for process in ha.procs.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.process.pid, signal.SIGCONT)  # a stopped peer stops too
                process.stop()

        stack.callback(stop_all)
        ha.start("pushgateway", *ALERTMANAGERS, *PROMETHEUSES)
        servers.wait_until(lambda: clustered(ha), 60, "every peer in the cluster")
        servers.wait_until(lambda: scraping(ha), 60, "every replica scraping every target")
        start_stale(ha, STEADY)
        servers.wait_until(lambda: bool(firing_times(ha, stale_key(STEADY))), 60, "steady alert")
        ha.started = time.time()
        yield ha


def watchdog_notified(ha: HA) -> None:
    """Wait for the Watchdog's first notification: Prometheus drops the alerts of its first
    evaluations, made before its notifier has found the peers, and sends them again after
    its resend delay, a minute (the flag's default)."""
    servers.wait_until(lambda: bool(firing_times(ha, WATCHDOG)), 90, "the Watchdog notified")


def held(ha: HA, peer: int) -> dict[tuple[str, str], list[dict[str, str]]]:
    """The alerts peer PEER holds, by alert name and model: each copy's labels."""
    alerts = httpx.get(f"{ha.url(C.ALERTMANAGER, peer)}/api/v2/alerts", timeout=5).json()
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    for alert in alerts:
        labels = alert["labels"]
        out.setdefault((labels["alertname"], labels.get("model", "")), []).append(labels)
    return out


def status(ha: HA, index: int) -> dict[str, Any]:
    return dict(httpx.get(f"{ha.url(C.ALERTMANAGER, index)}/api/v2/status", timeout=5).json())


def clustered(ha: HA) -> bool:
    """Whether every running peer is ready and sees exactly the running peers."""
    running = [i for i, name in enumerate(ALERTMANAGERS) if ha.procs[name].alive()]
    for index in running:
        cluster = status(ha, index)["cluster"]
        if cluster["status"] != "ready" or len(cluster.get("peers") or []) != len(running):
            return False
    return True


def scraping(ha: HA) -> bool:
    """Whether each Prometheus replica scrapes both replicas, every peer and the Pushgateway
    (the serving target is down by design), and alerts every peer."""
    want = {"prometheus": PROMETHEUS_REPLICAS, "alertmanager": PEERS, "pushgateway": 1}
    for index in range(PROMETHEUS_REPLICAS):
        base = ha.url(C.PROMETHEUS, index)
        up = query(base, "count by (job) (up == 1)")
        if {r["metric"]["job"]: int(float(r["value"][1])) for r in up} != want:
            return False
        answer = httpx.get(f"{base}/api/v1/alertmanagers", timeout=5).json()
        if len(answer["data"]["activeAlertmanagers"]) != PEERS:
            return False
    return True


def query(base: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"query": expr} | ({"time": at} if at is not None else {})
    answer = httpx.get(f"{base}/api/v1/query", params=params, timeout=10).json()
    if answer["status"] != "success":
        raise RuntimeError(f"{expr}: {answer}")
    return list(answer["data"]["result"])


def position(ha: HA, index: int) -> int:
    """The cluster position peer INDEX believes it holds (0 sends first)."""
    return int(h.metric_value(f"{ha.url(C.ALERTMANAGER, index)}/metrics",
                              "alertmanager_peer_position"))  # fmt: skip


def first_peer(ha: HA) -> int:
    """The peer every running peer agrees holds position 0."""
    found: list[int] = []

    def agreed() -> bool:
        running = [i for i, n in enumerate(ALERTMANAGERS) if ha.procs[n].alive()]
        positions = sorted(position(ha, i) for i in running)
        found[:] = [i for i in running if position(ha, i) == 0]
        return positions == list(range(len(running))) and len(found) == 1

    servers.wait_until(agreed, 30, "the peers agreeing on their positions")
    return found[0]


# --- Each peer's view of the cluster, while a fault changes it.

_VIEW = re.compile(r"^alertmanager_(cluster_members|peer_position) (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class View:
    at: float
    peer: int
    members: int  # alertmanager_cluster_members: the peers it counts, itself included
    position: int  # alertmanager_peer_position: 0 sends first


def view(client: httpx.Client, ha: HA, peer: int) -> View | None:
    try:
        page = client.get(f"{ha.url(C.ALERTMANAGER, peer)}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    values = {name: int(float(value)) for name, value in _VIEW.findall(page)}
    if len(values) != 2:
        return None
    return View(time.time(), peer, values["cluster_members"], values["peer_position"])


@dataclass
class Views:
    """The views of PEERS, polled every POLL seconds from a thread (`watched`)."""

    peers: tuple[int, ...]
    rounds: list[tuple[View | None, ...]] = field(default_factory=list)

    def consistent(self, views: tuple[View | None, ...]) -> bool:
        """Every peer counts exactly PEERS and each holds its own position."""
        got = [v for v in views if v is not None]
        return (
            len(got) == len(self.peers)
            and all(v.members == len(self.peers) for v in got)
            and sorted(v.position for v in got) == list(range(len(self.peers)))
        )

    def agreed_since(self) -> float:
        """When the last run of consistent rounds began (the end if the last round is not)."""
        since = time.time()
        for views in reversed(self.rounds):
            if not self.consistent(views):
                break
            since = min(v.at for v in views if v is not None)
        return since

    def collided(self) -> float:
        """Seconds of rounds in which two peers held the same position (both wait alike)."""
        clashes = [
            max(v.at for v in views if v is not None)
            for views in self.rounds
            if len({v.position for v in views if v is not None})
            < len([v for v in views if v is not None])
        ]
        return len(clashes) * POLL


POLL = 0.1


@contextmanager
def watched(ha: HA, peers: Sequence[int]) -> Iterator[Views]:
    views, done = Views(tuple(peers)), threading.Event()

    def poll() -> None:
        with httpx.Client() as client:
            while not done.wait(POLL):
                views.rounds.append(tuple(view(client, ha, p) for p in peers))

    thread = threading.Thread(target=poll, name="peer-views", daemon=True)
    thread.start()
    try:
        yield views
    finally:
        done.set()
        thread.join(5)


# --- Alerts started and stopped exactly, through the Pushgateway.


def _push(ha: HA, metric: catalog.Metric, model: str, value: float) -> None:
    labels = {"model": model}
    push(ha.pushgateway_url, catalog.TRAINING_JOB, labels, [(metric, labels, value)], replace=False)


def start_stale(ha: HA, model: str) -> None:
    _push(ha, catalog.TRAINING_LAST_SUCCESS, model, time.time() - 30 * 86400)


def stop_stale(ha: HA, model: str) -> None:
    _push(ha, catalog.TRAINING_LAST_SUCCESS, model, time.time())


# --- Counting.

Key = tuple[str, tuple[tuple[str, str], ...]]  # receiver, group labels
WATCHDOG: Key = ("heartbeat", (("alertname", A.WATCHDOG.value),))


def stale_key(model: str, alert: A = STALE) -> Key:
    return ("team", (("alertname", alert.value), ("model", model)))


def firing_times(ha: HA, key: Key) -> list[float]:
    """When each firing notification of group KEY arrived, in order."""
    notes = [*ha.sink.notifications, *ha.heartbeat.notifications]
    return sorted(
        n.received for n in notes if n.status == "firing" and (n.receiver, n.group) == key
    )


@dataclass
class Tally:
    expected: int = 0
    delivered: int = 0
    duplicated: int = 0
    lost: int = 0
    duplicate_times: tuple[float, ...] = field(default=(), compare=False)  # when each came

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.expected + other.expected, self.delivered + other.delivered,
                     self.duplicated + other.duplicated, self.lost + other.lost,
                     tuple(sorted(self.duplicate_times + other.duplicate_times)))  # fmt: skip


def _missed(gap: float) -> int:
    """Repeats a gap between two notifications of a group left out: none up to LATEST,
    then one more every REPEAT."""
    return 0 if gap <= LATEST else math.floor((gap - LATEST) / REPEAT) + 1


def count(times: Sequence[float], start: float, end: float) -> Tally:
    """One group's notifications over [START, END] (see the module docstring). TIMES is the
    group's whole history: a repeat due just after START is judged from the last one before.
    Each is judged from the one before it, duplicate or not: every notification sent, logged
    in the notification log, starts the repeat interval over."""
    before = [t for t in times if t < start]
    inside = [t for t in times if start <= t <= end]
    last = before[-1] if before else None
    duplicates: list[float] = []
    lost = 0
    for t in inside:
        if last is not None and t - last < DUPLICATE_WITHIN:
            duplicates.append(t)
        elif last is not None:
            lost += _missed(t - last)
        last = t
    lost += 1 if last is None else _missed(end - last)
    duplicated = len(duplicates)
    return Tally(len(inside) - duplicated + lost, len(inside), duplicated, lost, tuple(duplicates))


@dataclass
class Outcome:
    fault: str
    tallies: dict[str, Tally] = field(default_factory=dict)  # by group
    delays: dict[str, float] = field(default_factory=dict)  # seconds, by what they measure
    notes: list[str] = field(default_factory=list)
    unwanted: int = 0  # notifications of a silenced alert
    silence_id: str = ""
    snapshot_holds: bool | None = None  # the restarted peer's silence snapshot holds it
    restarted_state: str | None = None  # the silence's state on the restarted peer
    silenced_everywhere: bool = False  # every peer's copy of the alert silenced by it
    # Until when a duplicate comes from a membership change (fault a: the survivors' views
    # disagreeing, `Views.agreed_since`, plus the last position's wait and a second).
    membership_changing_until: float | None = None

    def duplicates_after(self, moment: float) -> list[float]:
        return [t for t in self.total.duplicate_times if t > moment]

    @property
    def total(self) -> Tally:
        return sum(self.tallies.values(), Tally())

    def tally(self, ha: HA, keys: Mapping[str, Key], start: float, end: float) -> None:
        self.tallies |= {
            name: count(firing_times(ha, key), start, end) for name, key in keys.items()
        }
