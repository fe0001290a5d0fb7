"""The HA tier's faults (tests/live/ha.py says what each shows), run one at a time.

Each starts at a recorded onset with the steady alert and the Watchdog firing, starts a
fresh alert, and ends after every group it counts had time for a repeat; the returned
`Outcome` holds each group's tally (expected, delivered, duplicated, lost) and the delays
measured. tests/live/test_ha.py asserts them; bench/live_ha.py prints them (`table`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import httpx

from infra import conventions as cv
from infra.units import duration_seconds
from service import catalog
from tests import servers
from tests.live import ha as ha_
from tests.live import harness as h
from tests.live.ha import (
    ALERTMANAGERS,
    HA,
    LATEST,
    NOTIFY,
    PENDING,
    PROMETHEUSES,
    REPEAT,
    SETTLE,
    SPLIT,
    STEADY,
    WAITS,
    WATCHDOG,
    Key,
    Outcome,
    firing_times,
    stale_key,
    start_stale,
    stop_stale,
)

C = cv.Component


def first_notified(ha: HA, key: Key, since: float, timeout: float) -> float | None:
    """When group KEY was first notified after SINCE, waiting up to TIMEOUT for it."""

    def after() -> list[float]:
        return [t for t in firing_times(ha, key) if t >= since]

    try:
        servers.wait_until(lambda: bool(after()), timeout, f"{key} notified")
    except TimeoutError:
        return None
    return after()[0]


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _groups(ha: HA, fresh: str) -> dict[str, Key]:
    """The groups a fault counts (the Watchdog once it has been notified)."""
    ha_.watchdog_notified(ha)
    return {"watchdog": WATCHDOG, "steady": stale_key(STEADY), "fresh": stale_key(fresh)}


def killed_alertmanager(ha: HA) -> Outcome:
    """a. The peer at position 0 SIGKILLed; restarted once the window is over. The survivors'
    views are polled throughout (`ha.watched`): until both count two members and hold
    positions 0 and 1, each may take the position the other holds."""
    out, fresh = Outcome("a. first peer SIGKILLed"), "ha-fresh-a"
    first = ha_.first_peer(ha)
    name = ALERTMANAGERS[first]
    survivors = [i for i in range(len(ALERTMANAGERS)) if i != first]
    groups = _groups(ha, fresh)
    with ha_.watched(ha, survivors) as views:
        onset = time.time()
        ha.signal(name, signal.SIGKILL)
        start_stale(ha, fresh)
        notified = first_notified(ha, stale_key(fresh), onset, NOTIFY + REPEAT)
        end = (notified or time.time()) + LATEST
        sleep_until(end)
    out.tally(ha, groups, onset, end)
    agreed = views.agreed_since()
    out.delays["fresh notified"] = (notified or float("nan")) - onset
    out.delays["survivors agreed on the membership"] = agreed - onset
    out.delays["survivors held one position"] = views.collided()
    out.membership_changing_until = agreed + WAITS + 1.0
    stop_stale(ha, fresh)
    restarted = time.time()
    ha.start(name)
    servers.wait_until(lambda: ha_.clustered(ha), 60, f"{name} back in the cluster")
    out.delays["peer back in the cluster"] = time.time() - restarted
    out.notes.append(f"killed {name}, at position 0")
    out.notes.append("duplicates, seconds after the kill: "
                     + ", ".join(f"{t - onset:.1f}" for t in out.total.duplicate_times))  # fmt: skip
    return out


def killed_prometheus(ha: HA) -> Outcome:
    """b. One Prometheus SIGKILLed; restarted within the window, which then covers a repeat
    period of it sending every alert again."""
    out, fresh = Outcome("b. a Prometheus SIGKILLed"), "ha-fresh-b"
    name = PROMETHEUSES[0]
    groups = _groups(ha, fresh)
    onset = time.time()
    ha.signal(name, signal.SIGKILL)
    start_stale(ha, fresh)
    notified = first_notified(ha, stale_key(fresh), onset, NOTIFY + REPEAT)
    out.delays["fresh notified"] = (notified or float("nan")) - onset
    restarted = time.time()
    ha.start(name)
    metrics = f"{ha.url(C.PROMETHEUS, 0)}/metrics"
    servers.wait_until(
        lambda: h.metric_value(metrics, "prometheus_notifications_sent_total") > 0,
        60,
        f"{name} sending alerts again",
        ha.procs[name],
    )
    out.delays["restarted replica sending"] = time.time() - restarted
    end = max((notified or time.time()) + LATEST, time.time() + SETTLE)
    sleep_until(end)
    out.tally(ha, groups, onset, end)
    stop_stale(ha, fresh)
    out.notes.append(f"killed {name}, restarted once the fresh alert was notified")
    return out


def split_peer(ha: HA) -> Outcome:
    """c. The peer at position 0 SIGSTOPped for SPLIT seconds, then SIGCONT."""
    out, fresh = Outcome("c. first peer split (SIGSTOP)"), "ha-fresh-c"
    name = ALERTMANAGERS[ha_.first_peer(ha)]
    groups = _groups(ha, fresh)
    onset = time.time()
    ha.signal(name, signal.SIGSTOP)
    try:
        start_stale(ha, fresh)
        notified = first_notified(ha, stale_key(fresh), onset, SPLIT)
    finally:
        sleep_until(onset + SPLIT)
        ha.signal(name, signal.SIGCONT)
    healed = time.time()
    if notified is None:  # Prometheus' notifier may wait for the stopped peer (10 s timeout)
        notified = first_notified(ha, stale_key(fresh), onset, NOTIFY + REPEAT)
    out.delays["fresh notified"] = (notified or float("nan")) - onset
    servers.wait_until(lambda: ha_.clustered(ha), 60, f"{name} back in the cluster")
    out.delays["peer back in the cluster"] = time.time() - healed
    end = max(healed, notified or healed) + LATEST
    sleep_until(end)
    out.tally(ha, groups, onset, end)
    stop_stale(ha, fresh)
    out.notes.append(f"stopped {name}, at position 0, for {SPLIT:.0f} s")
    return out


def _pending(ha: HA, value: float) -> None:
    ha_._push(ha, catalog.TRAINING_LAST_RUN_SUCCESS, "ha-pending", value)


def _alert_state(ha: HA, index: int, state: str) -> list[dict[str, object]]:
    expr = f'ALERTS{{alertname="{PENDING.value}",model="ha-pending",alertstate="{state}"}}'
    return ha_.query(ha.url(C.PROMETHEUS, index), expr)


def _fired_at(ha: HA, index: int, since: float) -> float:
    """When replica INDEX first recorded the pending alert firing (its own ALERTS series)."""
    expr = f'ALERTS{{alertname="{PENDING.value}",model="ha-pending",alertstate="firing"}}'
    answer = httpx.get(f"{ha.url(C.PROMETHEUS, index)}/api/v1/query_range", timeout=10, params={
        "query": expr, "start": since, "end": time.time() + 2, "step": 0.5,
    }).json()  # fmt: skip
    return float(answer["data"]["result"][0]["values"][0][0])


def restarted_pending(ha: HA) -> Outcome:
    """d. Prometheus 0 restarted halfway through the pending alert's `for`."""
    out = Outcome("d. a Prometheus restarted while pending")
    hold = float(duration_seconds(ha.spec.alert_override(PENDING.value).for_ or "0s"))
    name = PROMETHEUSES[0]
    onset = time.time()
    _pending(ha, 0)
    both = range(len(PROMETHEUSES))
    servers.wait_until(lambda: all(_alert_state(ha, i, "pending") for i in both), 30, "pending")
    sleep_until(onset + hold / 2)
    stopped = time.time()
    ha.stop(name)
    ha.start(name)
    out.delays["pending before the restart"] = stopped - onset
    out.delays["downtime"] = time.time() - stopped
    servers.wait_until(
        lambda: all(_alert_state(ha, i, "firing") for i in both), 2 * hold, "firing on both"
    )
    fired = [_fired_at(ha, i, onset) for i in both]
    out.delays["untouched replica fired"] = fired[1] - onset
    out.delays["restarted replica fired later by"] = fired[0] - fired[1]
    key = stale_key("ha-pending", PENDING)
    notified = first_notified(ha, key, onset, NOTIFY + REPEAT)
    out.delays["notified"] = (notified or float("nan")) - onset
    end = (notified or time.time()) + SETTLE
    sleep_until(end)
    out.tally(ha, {"pending": key}, onset, end)
    _pending(ha, 1)
    return out


def silence(ha: HA, index: int, model: str) -> str:
    """A silence of the stale alert of MODEL, created on peer INDEX; returns its id."""
    now = time.time()
    body = {
        "matchers": [
            {"name": "alertname", "value": ha_.STALE.value, "isRegex": False, "isEqual": True},
            {"name": "model", "value": model, "isRegex": False, "isEqual": True},
        ],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
        "createdBy": "live-ha-test",
        "comment": "maintenance on one peer",
    }
    created = httpx.post(f"{ha.url(C.ALERTMANAGER, index)}/api/v2/silences", json=body, timeout=5)
    created.raise_for_status()
    return str(created.json()["silenceID"])


def silence_state(ha: HA, index: int, silence_id: str) -> str | None:
    answer = httpx.get(f"{ha.url(C.ALERTMANAGER, index)}/api/v2/silence/{silence_id}", timeout=5)
    return str(answer.json()["status"]["state"]) if answer.status_code == 200 else None


def suppressed_by(ha: HA, index: int, model: str) -> list[list[str]]:
    """The silences each peer says hold the stale alert of MODEL (one list per copy held)."""
    answer = httpx.get(f"{ha.url(C.ALERTMANAGER, index)}/api/v2/alerts", timeout=5,
                       params={"filter": [f'alertname="{ha_.STALE.value}"', f'model="{model}"']})  # fmt: skip
    return [list(a["status"]["silencedBy"]) for a in answer.json()]


def silenced_on_one_peer(ha: HA) -> Outcome:
    """e. A silence made on the peer at position 1 holds on every peer, and after its restart."""
    out, muted, control = Outcome("e. silence on one peer"), "ha-silenced", "ha-control"
    ha_.watchdog_notified(ha)
    first = ha_.first_peer(ha)
    holder = next(i for i in range(len(ALERTMANAGERS)) if ha_.position(ha, i) == 1)
    created = time.time()
    silence_id = silence(ha, holder, muted)
    everywhere = range(len(ALERTMANAGERS))
    servers.wait_until(
        lambda: all(silence_state(ha, i, silence_id) == "active" for i in everywhere),
        30,
        "the silence on every peer",
    )
    out.delays["silence on every peer"] = time.time() - created
    onset = time.time()
    start_stale(ha, muted)
    start_stale(ha, control)
    notified = first_notified(ha, stale_key(control), onset, NOTIFY + REPEAT)
    out.delays["control notified"] = (notified or float("nan")) - onset
    sleep_until((notified or time.time()) + SETTLE)
    held = {peer: suppressed_by(ha, peer, muted) for peer in everywhere}
    out.silenced_everywhere = bool(held[first]) and all(
        silence_id in copy for copies in held.values() for copy in copies
    )
    out.notes.append(f"the silenced alert's copies, by peer (first: {first}): {held}")
    name = ALERTMANAGERS[holder]
    restart_peer_keeping(ha, name, silence_id, out)
    end = time.time() + LATEST
    sleep_until(end)
    out.tally(ha, {"watchdog": WATCHDOG, "steady": stale_key(STEADY),
                   "control": stale_key(control)}, onset, end)  # fmt: skip
    out.unwanted = len([t for t in firing_times(ha, stale_key(muted)) if t >= onset])
    out.silence_id = silence_id
    stop_stale(ha, muted)
    stop_stale(ha, control)
    return out


def restart_peer_keeping(ha: HA, name: str, silence_id: str, out: Outcome) -> None:
    """Restart peer NAME; its snapshot on its data dir must hold the silence."""
    ha.stop(name)  # SIGTERM: the peer writes its silence snapshot as it stops
    snapshot = ha.root / name / "data" / "silences"
    out.snapshot_holds = silence_id.encode() in snapshot.read_bytes()
    out.notes.append(f"{name}'s silence snapshot holds it: {out.snapshot_holds}")
    restarted = time.time()
    ha.start(name)
    servers.wait_until(lambda: ha_.clustered(ha), 60, f"{name} back in the cluster")
    out.delays["peer back in the cluster"] = time.time() - restarted
    index = ALERTMANAGERS.index(name)
    out.restarted_state = silence_state(ha, index, silence_id)
    out.notes.append(f"{name} restarted: the silence is {out.restarted_state}")


# In the order they run: d first, while the Watchdog is on its way (`watchdog_notified`);
# the faults that restart or stop a peer last, since that peer's groups then tick out of
# phase with the others' (it makes them anew when Prometheus next sends, or resumes late),
# which Alertmanager does not correct (alertmanager#3551): repeats can then be duplicated.
FAULTS: dict[str, Callable[[HA], Outcome]] = {
    "d": restarted_pending,
    "b": killed_prometheus,
    "a": killed_alertmanager,
    "c": split_peer,
    "e": silenced_on_one_peer,
}


def table(outcomes: list[Outcome]) -> str:
    head = (
        f"{'fault':<40}{'expected':>9}{'delivered':>10}{'duplicated':>11}{'lost':>5}{'unwanted':>9}"
    )
    lines = [head]
    for o in outcomes:
        t = o.total
        lines.append(f"{o.fault:<40}{t.expected:>9}{t.delivered:>10}{t.duplicated:>11}"
                     f"{t.lost:>5}{o.unwanted:>9}")  # fmt: skip
        for group, g in o.tallies.items():
            lines.append(
                f"{'  ' + group:<40}{g.expected:>9}{g.delivered:>10}{g.duplicated:>11}{g.lost:>5}"
            )
        for what, seconds in o.delays.items():
            lines.append(f"  {what}: {seconds:.1f} s")
        lines.extend(f"  {note}" for note in o.notes)
    return "\n".join(lines)
