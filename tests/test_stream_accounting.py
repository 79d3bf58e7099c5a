"""chatapp.stream_accounting: bytes and reconnects added up in memory, written in batches.

Real database rows throughout; the only stand-in is a wrapper around the
module's ``_write`` where a test must see inside a flush (its SQL, or a record
made while it runs).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatapp import stream_accounting
from chatapp.models import Conversation, Message
from chatapp.stream_accounting import StreamAccounting

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough that no background flush happens unless a test waits for one.
NEVER_S = 3600.0
# Short, for the tests that wait for the background flush.
SOON_S = 0.2
# How long a background flush may take beyond its delay on a loaded machine.
SLACK_S = 3.0


def _make_answers(n: int) -> list[UUID]:
    user = User.objects.create_user(f"u{time.monotonic_ns()}")
    conversation = Conversation.objects.create(user=user, model="demo")
    question = Message.objects.create(conversation=conversation, role="user", content="hi")
    return [
        Message.objects.create(
            conversation=conversation, reply_to=question, role="assistant", model="demo"
        ).id
        for _ in range(n)
    ]


@pytest.fixture
async def answers() -> list[UUID]:
    return await sync_to_async(_make_answers)(3)


@pytest.fixture
async def accounting() -> AsyncIterator[StreamAccounting]:
    """An accounting that only writes when told to."""
    yield StreamAccounting(flush_s=NEVER_S)
    for task in asyncio.all_tasks():
        if task.get_name() == "stream-accounting":
            task.cancel()


async def counts(message_id: UUID) -> tuple[int, int]:
    row = await Message.objects.aget(id=message_id)
    return row.bytes_sent, row.reconnects


async def wait_for_counts(message_id: UUID, expected: tuple[int, int], within: float) -> float:
    """Seconds until the row holds ``expected``; fails after ``within``."""
    started = time.monotonic()
    while (found := await counts(message_id)) != expected:
        assert time.monotonic() - started < within, f"still {found}, wanted {expected}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def wrap_write(monkeypatch: pytest.MonkeyPatch, around: Callable[[Callable[[], None]], None]):
    """Run ``around(write)`` in the flush's own thread instead of the write."""
    original = stream_accounting._write

    def wrapped(pending: Any) -> None:
        around(lambda: original(pending))

    monkeypatch.setattr(stream_accounting, "_write", wrapped)


async def test_streams_of_one_message_are_summed(
    accounting: StreamAccounting, answers: list[UUID]
) -> None:
    first, second, untouched = answers
    accounting.record(first, bytes_sent=1000, reconnected=False)
    accounting.record(first, bytes_sent=250, reconnected=True)
    accounting.record(second, bytes_sent=40, reconnected=False)
    accounting.record(first, bytes_sent=5, reconnected=True)
    assert await counts(first) == (0, 0), "nothing is written before a flush"
    await accounting.flush()
    assert await counts(first) == (1255, 2)
    assert await counts(second) == (40, 0)
    assert await counts(untouched) == (0, 0)
    # Added to what the row holds, never overwritten.
    accounting.record(first, bytes_sent=45, reconnected=True)
    await accounting.flush()
    assert await counts(first) == (1300, 3)


async def test_a_flush_with_nothing_recorded_writes_nothing(
    accounting: StreamAccounting, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[Callable[[], None]] = []

    def record(write: Callable[[], None]) -> None:
        writes.append(write)
        write()

    wrap_write(monkeypatch, record)
    await accounting.flush()
    assert writes == []


async def test_one_flush_writes_everything_in_one_transaction(
    accounting: StreamAccounting, answers: list[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    captured: list[str] = []

    def capture(write: Callable[[], None]) -> None:
        with CaptureQueriesContext(connection) as queries:
            write()
        captured.extend(q["sql"] for q in queries.captured_queries)

    wrap_write(monkeypatch, capture)
    for i, message_id in enumerate(answers):
        accounting.record(message_id, bytes_sent=10 * (i + 1), reconnected=i == 2)
    await accounting.flush()
    assert captured[0].startswith("BEGIN")
    assert captured[-1] == "COMMIT"
    assert [sql.split()[0] for sql in captured[1:-1]] == ["UPDATE"] * len(answers)
    assert [await counts(m) for m in answers] == [(10, 0), (20, 0), (30, 1)]


async def test_the_background_flush_writes_within_flush_s(answers: list[UUID]) -> None:
    accounting = StreamAccounting(flush_s=SOON_S)
    accounting.record(answers[0], bytes_sent=300, reconnected=False)
    accounting.record(answers[0], bytes_sent=200, reconnected=True)
    waited = await wait_for_counts(answers[0], (500, 1), within=SOON_S + SLACK_S)
    assert waited >= SOON_S * 0.9, "written before the batching delay"


async def test_records_made_during_a_flush_are_not_lost(
    accounting: StreamAccounting, answers: list[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    writing, go_on = threading.Event(), threading.Event()

    def held(write: Callable[[], None]) -> None:
        writing.set()
        assert go_on.wait(10)
        write()

    wrap_write(monkeypatch, held)
    accounting.record(answers[0], bytes_sent=100, reconnected=False)
    flushing = asyncio.create_task(accounting.flush())
    assert await asyncio.to_thread(writing.wait, 5)
    accounting.record(answers[0], bytes_sent=7, reconnected=True)  # while it writes
    go_on.set()
    await flushing
    assert await counts(answers[0]) == (100, 0)
    await accounting.flush()
    assert await counts(answers[0]) == (107, 1)


async def test_records_made_during_a_background_flush_reach_the_database(
    answers: list[UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract: figures reach the database within about ``flush_s``, even
    when they are recorded while the background flush is writing."""
    writing, go_on = threading.Event(), threading.Event()

    def held_once(write: Callable[[], None]) -> None:
        if not writing.is_set():
            writing.set()
            assert go_on.wait(10)
        write()

    wrap_write(monkeypatch, held_once)
    accounting = StreamAccounting(flush_s=SOON_S)
    accounting.record(answers[0], bytes_sent=100, reconnected=False)
    assert await asyncio.to_thread(writing.wait, SOON_S + SLACK_S)
    accounting.record(answers[1], bytes_sent=7, reconnected=True)  # while it writes
    go_on.set()
    await wait_for_counts(answers[0], (100, 0), within=SLACK_S)
    # Nothing else is recorded: the write of the second figure is up to the
    # flush that was running when it came in.
    await wait_for_counts(answers[1], (7, 1), within=SOON_S + SLACK_S)


async def test_a_database_failure_is_logged_and_does_not_raise(
    accounting: StreamAccounting, answers: list[UUID], caplog: pytest.LogCaptureFixture
) -> None:
    good, bad, _ = answers
    accounting.record(good, bytes_sent=10, reconnected=False)
    # bytes_sent is a positive field: the database itself refuses the result.
    accounting.record(bad, bytes_sent=-1, reconnected=False)
    with caplog.at_level(logging.ERROR, logger="chatapp.stream_accounting"):
        await accounting.flush()
    [record] = [r for r in caplog.records if r.name == "chatapp.stream_accounting"]
    assert record.getMessage() == "stream accounting: 2 answers not written"
    assert record.exc_info is not None
    # One transaction: the failure took the whole batch with it.
    assert await counts(good) == (0, 0)
    assert await counts(bad) == (0, 0)
    # And the accounting goes on working.
    accounting.record(good, bytes_sent=10, reconnected=False)
    await accounting.flush()
    assert await counts(good) == (10, 0)


async def test_aclose_writes_what_is_pending_and_ends_the_flusher(
    accounting: StreamAccounting, answers: list[UUID]
) -> None:
    first = answers[0]
    accounting.record(first, bytes_sent=70, reconnected=True)
    flusher = next(t for t in asyncio.all_tasks() if t.get_name() == "stream-accounting")
    await accounting.aclose()
    assert await counts(first) == (70, 1), "written at once, not a flush period later"
    assert flusher.done()
