"""The request path's replacements of BentoML's middlewares answer as BentoML's do."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from service.asgi import Message, Receive, Scope, Send, Timeout


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
