"""The EventLog contract (streaming/eventlog/base.py), run against every backend.

Each test gets ``make_log`` (tests/support/eventlogs.py): a factory for logs
of one backend that share state (for Redis: one unique key prefix, deleted
afterwards). Redis tests skip when the server is unreachable, and fail
instead under SPOOL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streaming.events import Event, EventType
from streaming.snapshot import fold
from tests.support.eventlogs import LONG_WAIT_S, PROMPT_S, MakeLog


async def _blocked(task: asyncio.Task[Any]) -> None:
    """Let ``task`` reach its wait, and check that it is really waiting."""
    await asyncio.sleep(0.05)
    assert not task.done()


async def test_offsets_are_consecutive_from_one_and_round_trip(make_log: MakeLog) -> None:
    log = make_log()
    data: list[dict[str, Any]] = [
        {"state": "streaming"},
        {"text": 'Grüße, 世界 "quoted"\n<b>&</b>'},
        {"status": "complete", "metrics": {"ttft_ms": 12.5, "tokens": 3}, "error": None},
    ]
    types = [EventType.STATUS, EventType.DELTA, EventType.FINAL]
    offsets = [await log.append("r", t, d) for t, d in zip(types, data, strict=True)]
    assert offsets == [1, 2, 3]
    events = (await log.read("r", 0, 0)).events
    assert [(e.offset, e.type, e.data) for e in events] == list(
        zip(offsets, types, data, strict=True)
    )
    assert events[-1].is_final


async def test_read_after_n_is_exclusive(make_log: MakeLog) -> None:
    log = make_log()
    for i in range(5):
        await log.append("r", EventType.DELTA, {"text": str(i)})
    assert [e.offset for e in (await log.read("r", 2, 0)).events] == [3, 4, 5]
    assert [e.offset for e in (await log.read("r", 4, 0)).events] == [5]
    assert (await log.read("r", 5, 0)).events == []


async def test_zero_wait_never_blocks(make_log: MakeLog) -> None:
    # chatapp/live.py folds a snapshot with read(run_id, 0, 0) on a live run.
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    started = time.perf_counter()
    assert (await log.read("r", 1, 0)).events == []
    assert time.perf_counter() - started < PROMPT_S


async def test_blocked_read_wakes_on_append(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
    await _blocked(reader)
    started = time.perf_counter()
    await log.append("r", EventType.DELTA, {"text": "x"})
    events = (await asyncio.wait_for(reader, LONG_WAIT_S)).events
    assert time.perf_counter() - started < PROMPT_S
    assert [(e.offset, e.data) for e in events] == [(2, {"text": "x"})]


async def test_every_blocked_reader_gets_the_event(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    readers = [asyncio.create_task(log.read("r", 1, LONG_WAIT_S)) for _ in range(5)]
    await asyncio.sleep(0.05)
    await log.append("r", EventType.DELTA, {"text": "x"})
    results = await asyncio.wait_for(asyncio.gather(*readers), LONG_WAIT_S)
    assert [[e.offset for e in batch.events] for batch in results] == [[2]] * 5


async def test_read_times_out_empty_after_the_wait(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    started = time.perf_counter()
    assert (await log.read("r", 1, 0.2)).events == []
    # Loose upper bound: a busy shared machine adds scheduling noise, not a hang.
    assert 0.15 <= time.perf_counter() - started < 0.2 + 1.0


async def test_cancelling_a_blocked_read_is_prompt_and_harmless(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
    await _blocked(reader)
    started = time.perf_counter()
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert time.perf_counter() - started < PROMPT_S
    assert await log.append("r", EventType.DELTA, {"text": "after"}) == 2
    assert [e.data for e in (await log.read("r", 1, 1)).events] == [{"text": "after"}]


async def test_close_wakes_blocked_readers(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.FINAL, {})
    reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
    await _blocked(reader)
    started = time.perf_counter()
    await log.close("r")
    woken = await asyncio.wait_for(reader, LONG_WAIT_S)
    assert woken.events == []
    assert woken.closed, "a reader woken by the close must learn that nothing more comes"
    assert time.perf_counter() - started < PROMPT_S


async def test_closed_run_answers_at_once_and_keeps_its_events(make_log: MakeLog) -> None:
    log = make_log()
    for i in range(3):
        await log.append("r", EventType.DELTA, {"text": str(i)})
    await log.close("r")
    started = time.perf_counter()
    assert (await log.read("r", 3, LONG_WAIT_S)).events == []
    assert time.perf_counter() - started < PROMPT_S
    assert (await log.read("r", 0, LONG_WAIT_S)).closed
    assert [e.offset for e in (await log.read("r", 0, LONG_WAIT_S)).events] == [1, 2, 3]
    assert [e.offset for e in (await log.read("r", 2, LONG_WAIT_S)).events] == [3]


@pytest.mark.parametrize("after", [3, 4, 1000, 10**30])
async def test_a_reader_at_or_past_the_end_of_a_closed_run_is_told_so_every_time(
    make_log: MakeLog, after: int
) -> None:
    """Asked again and again, a closed log answers "closed, nothing": a
    subscriber loop must end on it, since it can never change. At the end it
    answers at once; past the end (an offset never given out) within one wait."""
    log = make_log()
    for i in range(3):
        await log.append("r", EventType.DELTA, {"text": str(i)})
    await log.close("r")
    wait_s = 0.3
    for _ in range(3):
        started = time.perf_counter()
        batch = await log.read("r", after, wait_s)
        assert (batch.events, batch.closed) == ([], True)
        limit = PROMPT_S if after == 3 else 2 * wait_s + PROMPT_S
        assert time.perf_counter() - started < limit


async def test_an_open_run_is_never_reported_closed(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    assert not (await log.read("r", 0, 0)).closed
    assert not (await log.read("r", 1, 0.05)).closed
    await log.append("r", EventType.FINAL, {})
    assert not (await log.read("r", 0, 0)).closed, "final alone does not close the log"


async def test_exists_from_first_append_until_retention_after_close(make_log: MakeLog) -> None:
    log = make_log(retention_s=0.2)
    assert not await log.exists("r")
    await log.append("r", EventType.FINAL, {})
    assert await log.exists("r")
    await log.close("r")
    assert await log.exists("r")
    await asyncio.sleep(0.4)
    assert not await log.exists("r")


async def test_unknown_run_reads_nothing(make_log: MakeLog) -> None:
    log = make_log()
    assert (await log.read("nope", 0, 0)).events == []
    assert (await log.read("nope", 0, 0.05)).events == []
    assert not await log.exists("nope")


async def test_runs_are_independent(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("a", EventType.DELTA, {"text": "a1"})
    await log.append("b", EventType.DELTA, {"text": "b1"})
    assert await log.append("a", EventType.DELTA, {"text": "a2"}) == 2
    await log.close("b")
    assert [e.data["text"] for e in (await log.read("a", 0, 0)).events] == ["a1", "a2"]
    assert [e.data["text"] for e in (await log.read("b", 0, 0)).events] == ["b1"]


async def test_a_second_log_object_sees_the_same_run(make_log: MakeLog) -> None:
    # Memory: the same object (one process). Redis: a second client, as another process.
    writer, reader = make_log(), make_log()
    await writer.append("r", EventType.STATUS, {"state": "streaming"})
    assert await reader.exists("r")
    waiting = asyncio.create_task(reader.read("r", 1, LONG_WAIT_S))
    await _blocked(waiting)
    await writer.append("r", EventType.DELTA, {"text": "x"})
    assert [e.offset for e in (await asyncio.wait_for(waiting, LONG_WAIT_S)).events] == [2]


# A short answer as a run writes it: content, then the closing announcement,
# an error and final (streaming/runs/run.py, _finalize).
FINISHED_RUN: list[tuple[EventType, dict[str, Any]]] = [
    (EventType.STATUS, {"state": "streaming"}),
    (EventType.DELTA, {"text": "a\n\nb"}),
    (EventType.BLOCK, {"html": "<p>a</p>"}),
    (EventType.TAIL, {"html": "<p>b</p>"}),
    (EventType.DELTA, {"text": "c"}),
    (EventType.TAIL, {"ops": [[1, "c"]]}),
    (EventType.ANNOUNCE, {"text": "a"}),
    (EventType.DELTA, {"text": "d"}),
    (EventType.TAIL, {"ops": [[1, "d"]]}),
    (EventType.ANNOUNCE, {"text": "bcd"}),
    (EventType.ERROR, {"code": "timeout", "message": "Slow.", "retryable": True}),
    (EventType.FINAL, {"status": "failed"}),
]


async def test_a_finished_run_resumed_after_any_offset_ends_with_the_whole_answer(
    make_log: MakeLog,
) -> None:
    """A closed log may keep less than every event (the memory log compacts a
    finished run), but a reader that applied the events up to any offset and
    reads the rest ends with the answer the whole log gives, then final."""
    log = make_log(compact_after_s=0.0)
    written = [Event(await log.append("r", type, data), type, data) for type, data in FINISHED_RUN]
    await log.close("r")
    await asyncio.sleep(0.05)  # past any compaction
    whole = fold(written)
    assert whole.html == "<p>a</p><p>bcd</p>"
    for after in range(len(written) + 1):
        batch = await log.read("r", after, LONG_WAIT_S)
        assert batch.closed
        assert all(event.offset > after for event in batch.events)
        seen = written[:after] + batch.events
        assert fold(seen).html == whole.html, f"resumed after {after}"
        assert fold(seen).text == whole.text == "a\n\nbcd", f"resumed after {after}"
        assert seen[-1].offset == written[-1].offset
        assert seen[-1].is_final
    # What followed the last content event is read as it was written.
    last_content = written[8].offset
    tail = (await log.read("r", last_content, 0)).events
    assert [(e.offset, e.type, e.data) for e in tail] == [
        (e.offset, e.type, e.data) for e in written[9:]
    ]


async def test_a_live_run_resumed_after_any_offset_ends_with_the_answer_so_far(
    make_log: MakeLog,
) -> None:
    """A live log may fold its older events (the memory log does, every
    period), but a reader that applied the events up to any offset and reads
    the rest ends with the answer so far, at the latest offset."""
    period = 0.05
    log = make_log(compact_after_s=period)
    written = []
    for type, data in FINISHED_RUN[:-2]:
        written.append(Event(await log.append("r", type, data), type, data))
        await asyncio.sleep(period / 2)  # a trim every other event
    await asyncio.sleep(period * 2)
    whole = fold(written)
    assert whole.html == "<p>a</p><p>bcd</p>"
    for after in range(len(written) + 1):
        batch = await log.read("r", after, 0)
        assert not batch.closed
        seen = written[:after] + batch.events
        assert fold(seen).html == whole.html, f"resumed after {after}"
        assert fold(seen).text == whole.text == "a\n\nbcd", f"resumed after {after}"
        assert seen[-1].offset == written[-1].offset
    assert await log.append("r", EventType.FINAL, {"status": "complete"}) == len(written) + 1


async def test_a_discarded_run_starts_again_at_offset_one(make_log: MakeLog) -> None:
    """Continue streams into the same message (run id) again, from a fresh log."""
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    await log.append("r", EventType.FINAL, {"status": "stopped"})
    await log.close("r")
    await log.discard("r")
    assert not await log.exists("r")
    assert await log.append("r", EventType.STATUS, {"state": "streaming"}) == 1
    batch = await log.read("r", 0, 0)
    assert [(e.offset, e.type) for e in batch.events] == [(1, EventType.STATUS)]
    assert not batch.closed
    await log.discard("never-seen")  # harmless
