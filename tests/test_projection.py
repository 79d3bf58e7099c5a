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
    final = Event(9, EventType.FINAL, {"status": "complete", "finish_reason": "stop"})
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


async def test_the_memo_keeps_the_newest_frames_within_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _message()
    html = "x" * 1000
    frame_cost = projection._cost(
        await projection._project(Event(1, EventType.BLOCK, {"html": html}), message)
    )
    # Room for three of these frames, not four.
    monkeypatch.setattr(projection, "PROJECTED_BYTES", 3 * frame_cost + frame_cost // 2)
    for offset in range(1, 6):
        await projection.project(Event(offset, EventType.BLOCK, {"html": html}), message)
    assert [offset for _, offset in projection._projected] == [3, 4, 5]
    assert projection._projected.size == 3 * frame_cost
    # Small frames: more of them fit in the same bytes.
    for offset in range(6, 16):
        await projection.project(Event(offset, EventType.BLOCK, {"html": "y"}), message)
    assert [offset for _, offset in projection._projected][-10:] == list(range(6, 16))
    assert projection._projected.size <= projection.PROJECTED_BYTES


async def test_a_frame_larger_than_the_memo_is_still_kept_until_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projection, "PROJECTED_BYTES", 100)
    message = _message()
    big = Event(1, EventType.BLOCK, {"html": "z" * 500})
    first = await projection.project(big, message)
    # A second subscriber right after still shares the bytes.
    assert await projection.project(big, message) is first
    await projection.project(Event(2, EventType.BLOCK, {"html": "w" * 500}), message)
    assert [offset for _, offset in projection._projected] == [2]


async def test_a_compacted_logs_replace_resets_blocks_and_tail() -> None:
    replace = Event(12, EventType.REPLACE, {"html": "<p>a</p>", "tail": "<p>b</p>"})
    assert await projection.project(replace, _message()) == [
        b"event: blocks\ndata: <p>a</p>\n\nid: 12\nevent: tail\ndata: <p>b</p>\n\n"
    ]
    whole = Event(13, EventType.REPLACE, {"html": "<p>ab</p>"})
    assert await projection.project(whole, _message()) == [
        b"event: blocks\ndata: <p>ab</p>\n\nid: 13\nevent: tail\ndata:  \n\n"
    ]


async def test_the_thinking_is_said_once_and_a_later_rounds_only_updates_the_summary() -> None:
    first = Event(5, EventType.REASONING_DONE, {"duration_ms": 2100.0})
    assert await projection.project(first, _message()) == [
        b"event: reasoning-label\ndata: Thought for 2 s\n\n"
        b"id: 5\nevent: status\ndata: Thought for 2 seconds.\n\n"
    ]
    again = Event(9, EventType.REASONING_DONE, {"duration_ms": 3900.0, "again": True})
    assert await projection.project(again, _message()) == [
        b"id: 9\nevent: reasoning-label\ndata: Thought for 4 s\n\n"
    ]


async def test_both_read_aloud_modes_are_projected_escaped_for_every_page() -> None:
    message = _message()
    paced = Event(4, EventType.ANNOUNCE, {"text": "First <b>block</b>."})
    whole = Event(9, EventType.ANNOUNCE_DONE, {"text": "First <b>block</b>. Second."})
    assert await projection.project(paced, message) == [
        b"id: 4\nevent: announce\ndata: <p>First &lt;b&gt;block&lt;/b&gt;.</p>\n\n"
    ]
    assert await projection.project(whole, message) == [
        b"id: 9\nevent: announce-done\ndata: <p>First &lt;b&gt;block&lt;/b&gt;. Second.</p>\n\n"
    ]
