"""The request path's replacements of BentoML's middlewares answer as BentoML's do."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from service.asgi import LoopOrThread, Message, Receive, Scope, Send, Timeout


def _run(coroutine: Any) -> Any:
    """Runs a coroutine on a loop of its own, leaving the thread's event loop as it was
    (`asyncio.run` unsets it, and later tests' `get_event_loop()` would then fail)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


SCOPE: Scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def _call(app: Timeout) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(SCOPE), _receive, send)
    return sent


def _answer(delay_before: float, delay_between: float = 0.0) -> Any:
    """An app that starts its answer after `delay_before` and ends it `delay_between` later."""
    state = {"cancelled": False, "finished": False}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await asyncio.sleep(delay_before)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await asyncio.sleep(delay_between)
            await send({"type": "http.response.body", "body": b"ok"})
            state["finished"] = True
        except asyncio.CancelledError:
            state["cancelled"] = True
            raise

    return app, state


def test_an_answer_that_does_not_start_in_time_is_cancelled_and_answered_504() -> None:
    app, state = _answer(delay_before=5)
    sent = _run(_call(Timeout(app, timeout=0.05)))
    assert state == {"cancelled": True, "finished": False}
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {
        "error": "Not able to process the request in 0.05 seconds"
    }


def test_an_answer_started_in_time_runs_to_its_end_past_the_timeout() -> None:
    app, state = _answer(delay_before=0, delay_between=0.15)
    sent = _run(_call(Timeout(app, timeout=0.05)))
    assert state == {"cancelled": False, "finished": True}
    assert [m.get("status") for m in sent] == [200, None]
    assert sent[1]["body"] == b"ok"


def test_the_apps_own_timeout_error_is_not_taken_for_the_deadline() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise TimeoutError("the model store timed out")

    with pytest.raises(TimeoutError, match="model store"):
        _run(_call(Timeout(app, timeout=30)))


def test_a_fast_request_leaves_no_timer_behind() -> None:
    """BentoML's timeout left one live timer per request in the loop for the whole timeout."""
    app, _ = _answer(delay_before=0)

    async def many() -> int:
        for _ in range(50):
            assert (await _call(Timeout(app, timeout=30)))[0]["status"] == 200
        loop = asyncio.get_running_loop()
        return sum(not handle.cancelled() for handle in loop._scheduled)  # type: ignore[attr-defined]

    assert _run(many()) == 0


class _Model:
    """A prediction that takes `seconds` (a sleep: it waits, as I/O would) and notes the
    thread it ran on."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.threads: list[int] = []

    def __call__(self, rows: int) -> int:
        self.threads.append(threading.get_ident())
        time.sleep(self.seconds)
        if rows < 0:
            raise ValueError("no rows")
        return rows


def _places(where: LoopOrThread, model: _Model, calls: int) -> list[str]:
    """Where each of `calls` calls ran: "loop" (the caller's thread) or "thread"."""
    model.threads.clear()

    async def run() -> int:
        for _ in range(calls):
            assert await where.call(asyncio.to_thread, model, {"rows": 3}) == 3
        return threading.get_ident()

    loop_thread = _run(run())
    return ["loop" if t == loop_thread else "thread" for t in model.threads]


def test_a_fast_model_runs_on_the_loop() -> None:
    assert _places(LoopOrThread(budget=0.05), _Model(), 5) == ["loop"] * 5


def test_a_slow_call_moves_the_next_ones_to_a_thread_until_settle_calls_are_fast() -> None:
    model, where = _Model(), LoopOrThread(budget=0.02, settle=3)
    model.seconds = 0.04
    assert _places(where, model, 3) == ["loop", "thread", "thread"]
    model.seconds = 0.0
    assert _places(where, model, 5) == ["thread", "thread", "thread", "loop", "loop"]


def test_a_model_that_stays_slow_never_holds_the_loop_again() -> None:
    model, where = _Model(), LoopOrThread(budget=0.01, settle=2)
    model.seconds = 0.02
    assert _places(where, model, 6) == ["loop"] + ["thread"] * 5


def test_budget_zero_always_uses_the_thread() -> None:
    assert _places(LoopOrThread(budget=0), _Model(), 4) == ["thread"] * 4


def test_a_failing_call_raises_to_the_caller_and_is_timed() -> None:
    model, where = _Model(), LoopOrThread(budget=0.01)
    model.seconds = 0.02

    async def failing() -> None:
        await where.call(asyncio.to_thread, model, {"rows": -1})

    with pytest.raises(ValueError, match="no rows"):
        _run(failing())
    assert not where.inline
