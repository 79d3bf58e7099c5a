"""The HTML projection: each run event is encoded once per process, for every subscriber."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chatapp import projection
from chatapp.models import Message
from streaming.events import Event, EventType


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projection, "_projected", type(projection._projected)())


def _message() -> Message:
    return Message(id=uuid.uuid4())


async def test_a_second_subscriber_gets_the_same_bytes_without_projecting_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = projection._project

    async def counting(event: Event, message: Message) -> list[bytes]:
        calls.append(event.offset)
        return await real(event, message)

    monkeypatch.setattr(projection, "_project", counting)
    message = _message()
    tail = Event(7, EventType.TAIL, {"ops": [[0, "b"]]})
    first = await projection.project(tail, message)
    again = await projection.project(Event(7, EventType.TAIL, tail.data), message)
    assert again is first
    assert first == [b'id: 7\nevent: tail-append\ndata: [[0,"b"]]\n\n']
    assert calls == [7]
    # Another run's event at the same offset is its own.
    other = await projection.project(Event(7, EventType.BLOCK, {"html": "<p>x</p>"}), _message())
    assert other == [b"id: 7\nevent: block\ndata: <p>x</p>\n\n"]
    assert calls == [7, 7]


async def test_the_final_footer_is_rendered_once_for_every_subscriber(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renders: list[Any] = []

    async def done_frame(message: Message, offset: int | None) -> bytes:
        renders.append(offset)
        return b"id: 9\nevent: done\ndata: footer\n\n"

    monkeypatch.setattr(projection, "done_frame", done_frame)
    message = _message()
    final = Event(9, EventType.FINAL, {"status": "complete"})
    frames = [await projection.project(final, message) for _ in range(3)]
    assert frames[0] == [
        b"event: status\ndata: Answer complete.\n\n",
        b"id: 9\nevent: done\ndata: footer\n\n",
    ]
    assert frames[1] is frames[0]
    assert frames[2] is frames[0]
    assert renders == [9]


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("length", "Answer cut short at the length limit."),
        ("time_limit", "Answer cut short at the time limit."),
    ],
)
async def test_a_truncated_answer_says_which_limit_cut_it(
    monkeypatch: pytest.MonkeyPatch, reason: str, said: str
) -> None:
    async def done_frame(message: Message, offset: int | None) -> bytes:
        return b"id: 3\nevent: done\ndata: footer\n\n"

    monkeypatch.setattr(projection, "done_frame", done_frame)
    final = Event(3, EventType.FINAL, {"status": "truncated", "finish_reason": reason})
    status, _done = await projection.project(final, _message())
    assert status == f"event: status\ndata: {said}\n\n".encode()


async def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projection, "PROJECTED_KEPT", 3)
    message = _message()
    for offset in range(1, 6):
        await projection.project(Event(offset, EventType.BLOCK, {"html": "x"}), message)
    assert [offset for _, offset in projection._projected] == [3, 4, 5]
