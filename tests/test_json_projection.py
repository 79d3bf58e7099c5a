"""The JSON projection: which log events programs get, in both wire formats, encoded once."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest

from chatapp.json_projection import NDJSON, SSE, Wire, payload, project
from chatapp.projection import FrameMemo
from streaming.events import Event, EventType
from tests.support.sse_parser import SSEParser


@pytest.fixture
def sse() -> Wire:
    """The SSE format with a memo of its own."""
    return replace(SSE, memo=FrameMemo())


@pytest.fixture
def ndjson() -> Wire:
    return replace(NDJSON, memo=FrameMemo())


def ev(offset: int, type: EventType, **data: object) -> Event:
    return Event(offset, type, dict(data))


ERROR = {"code": "rate_limit", "message": "Wait.", "retryable": True, "retry_after": 7.0}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (ev(1, EventType.DELTA, text="Hi\n"), ("delta", {"text": "Hi\n"})),
        (ev(1, EventType.DELTA, text=""), None),
        (ev(1, EventType.REPLACE, html="<p>a</p>", text="a"), ("snapshot", {"text": "a"})),
        (ev(1, EventType.REPLACE, html="<p>a</p>"), None),  # a re-render: same text
        (ev(1, EventType.STATUS, state="generating"), ("status", {"state": "generating"})),
        (
            ev(1, EventType.USAGE, prompt_tokens=3, completion_tokens=5),
            ("usage", {"prompt_tokens": 3, "completion_tokens": 5}),
        ),
        (ev(1, EventType.ERROR, **ERROR), ("error", ERROR)),
        (ev(1, EventType.TITLE, title="Trip <b>"), ("title", {"title": "Trip <b>"})),
        (
            ev(1, EventType.FINAL, status="failed", finish_reason="", error=ERROR, metrics={}),
            ("final", {"status": "failed", "finish_reason": "", "error": ERROR, "metrics": {}}),
        ),
        (ev(1, EventType.BLOCK, html="<p>a</p>"), None),
        (ev(1, EventType.TAIL, ops=[[1, "b"]]), None),
        (ev(1, EventType.ANNOUNCE, text="a"), None),
        (ev(1, EventType.ANNOUNCE_DONE, text="a"), None),
        (ev(1, EventType.REASONING_DELTA, text="Hm."), ("reasoning", {"text": "Hm."})),
        (ev(1, EventType.REASONING_DELTA, text=""), None),
        (ev(1, EventType.REASONING_BLOCK, html="<p>Hm.</p>"), None),
        (ev(1, EventType.REASONING_TAIL, html="<p>Hm</p>"), None),
        (
            ev(1, EventType.REASONING_DONE, duration_ms=1234.5),
            ("reasoning_done", {"duration_ms": 1234.5}),
        ),
        (
            ev(1, EventType.REASONING_DONE, duration_ms=2000.0, again=True),
            ("reasoning_done", {"duration_ms": 2000.0, "again": True}),
        ),
        (
            ev(1, EventType.STATUS, state="thinking", since=1.0),
            ("status", {"state": "thinking"}),
        ),
        (
            ev(1, EventType.USAGE, prompt_tokens=3, completion_tokens=5, reasoning_tokens=2),
            ("usage", {"prompt_tokens": 3, "completion_tokens": 5, "reasoning_tokens": 2}),
        ),
        (
            ev(1, EventType.REPLACE, html="<p>a</p>", text="a", reasoning={"text": "Hm."}),
            ("snapshot", {"text": "a", "reasoning": "Hm."}),
        ),
    ],
)
def test_what_programs_get_for_each_log_event(event: Event, expected: object) -> None:
    assert payload(event) == expected


def test_every_event_kind_is_decided() -> None:
    """A new event kind must be placed in the table, even if it maps to nothing."""
    known = {
        EventType.DELTA, EventType.BLOCK, EventType.TAIL, EventType.REPLACE,
        EventType.ANNOUNCE, EventType.ANNOUNCE_DONE, EventType.STATUS, EventType.USAGE,
        EventType.TOOL_START,
        EventType.TOOL_RESULT, EventType.ERROR, EventType.TITLE, EventType.FINAL,
        EventType.REASONING_DELTA, EventType.REASONING_BLOCK, EventType.REASONING_TAIL,
        EventType.REASONING_DONE,
    }  # fmt: skip
    assert set(EventType) == known


def test_sse_and_ndjson_carry_the_same_event(sse: Wire, ndjson: Wire) -> None:
    event = ev(12, EventType.DELTA, text="line one\nline two é")
    parsed = SSEParser().feed(project(event, (uuid.uuid4(), None), sse))
    assert len(parsed) == 1
    assert (parsed[0].event, parsed[0].last_event_id) == ("delta", "12")
    assert json.loads(parsed[0].data) == {"text": "line one\nline two é"}
    line = project(event, (uuid.uuid4(), None), ndjson)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1, "one object, one line"
    assert json.loads(line) == {
        "id": 12,
        "event": "delta",
        "data": {"text": "line one\nline two é"},
    }


def test_each_event_is_encoded_once_for_every_subscriber(sse: Wire) -> None:
    run = (uuid.uuid4(), None)
    event = ev(3, EventType.DELTA, text="shared")
    first = project(event, run, sse)
    again = project(ev(3, EventType.DELTA, text="not looked at"), run, sse)
    assert again == first, "the second subscriber writes the memoised bytes"
    assert list(sse.memo) == [(run, 3)]
    assert project(ev(4, EventType.BLOCK, html="<p>x</p>"), run, sse) == b""
    assert list(sse.memo) == [(run, 3), (run, 4)], "nothing to send is remembered too"
