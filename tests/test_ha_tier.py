"""The live HA tier's counting and command lines, checked without starting anything
(tests/live/ha.py runs them; its docstring defines the counts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra import conventions as cv
from infra.components import services
from infra.render import render_all
from tests.live import ha
from tests.live.ha import LATEST, REPEAT, Tally, count
from tests.live.sink import WebhookSink

C = cv.Component


@pytest.mark.parametrize(
    ("times", "tally"),
    [
        pytest.param([0, REPEAT, 2 * REPEAT, 3 * REPEAT], Tally(3, 3, 0, 0),
                     id="a repeat every repeat interval is all delivered"),
        pytest.param([0, REPEAT, REPEAT + 0.5, 2 * REPEAT + 0.5], Tally(2, 3, 1, 0),
                     id="a second notification within the repeat interval is a duplicate"),
        pytest.param([0, 3.0, 3.0 + REPEAT, 3.0 + 2 * REPEAT], Tally(2, 3, 1, 0),
                     id="a duplicate starts the repeat interval over, as the log does"),
        pytest.param([0, 2 * REPEAT, 3 * REPEAT], Tally(3, 2, 0, 1),
                     id="a repeat interval with nothing is a lost notification"),
        pytest.param([], Tally(1, 0, 0, 1), id="a fresh group never notified is lost"),
        pytest.param([0, LATEST, LATEST + REPEAT], Tally(2, 2, 0, 0),
                     id="a repeat as late as every peer's tick allows is not lost"),
    ],
)  # fmt: skip
def test_notifications_are_counted_per_repeat(times: list[float], tally: Tally) -> None:
    assert count(times, start=1.0, end=max([*times, 0.0]) + 1.0) == tally


def test_each_duplicate_is_kept_with_its_time() -> None:
    times = [0, REPEAT, REPEAT + 0.5, 2 * REPEAT + 0.5, 2 * REPEAT + 1.0]
    tally = count(times, start=1.0, end=max(times) + 1.0)
    assert tally.duplicate_times == (REPEAT + 0.5, 2 * REPEAT + 1.0)
    assert (tally + tally).duplicate_times == (REPEAT + 0.5,) * 2 + (2 * REPEAT + 1.0,) * 2


def test_a_group_silent_until_the_window_ends_lost_its_repeats() -> None:
    assert count([0.0], start=1.0, end=LATEST + REPEAT + 1.0) == Tally(2, 0, 0, 2)


def test_only_the_named_flags_are_rewritten_and_each_must_be_there() -> None:
    args = ("--config.file=/etc/x.yml", "--web.listen-address=127.0.0.1:9090", "--keep=1")
    assert ha.localized(args, {"--config.file": Path("/tmp/x.yml")},
                        {"--web.listen-address": 4000}) == [
        "--config.file=/tmp/x.yml", "--web.listen-address=127.0.0.1:4000", "--keep=1",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"--storage\.path"):
        ha.localized(args, {"--storage.path": Path("/tmp")}, {})


def test_the_plans_give_every_peer_every_peer_and_the_spec_timings(tmp_path: Path) -> None:
    spec, secrets = ha.ha_spec(WebhookSink(1), WebhookSink(2), tmp_path)
    endpoints = ha._endpoints(tmp_path)
    files = render_all(spec, endpoints)
    blank: dict[str, Any] = dict.fromkeys(secrets)  # the program's secret Outputs, unread
    inputs = services.Inputs(spec, endpoints, files, blank, tmp_path)
    peers = [a for a in services.alertmanager(inputs).args if a.startswith("--cluster.peer=")]
    assert peers == [f"--cluster.peer={t}" for t in endpoints[C.ALERTMANAGER].targets("cluster")]
    assert len(peers) == ha.PEERS
    assert f"--cluster.peer-timeout={ha.PEER_TIMEOUT}" in services.alertmanager(inputs).args
    assert (
        f"--rules.alert.for-grace-period={ha.FOR_GRACE_PERIOD}" in services.prometheus(inputs).args
    )
    assert spec.prometheus.replicas == ha.PROMETHEUS_REPLICAS
