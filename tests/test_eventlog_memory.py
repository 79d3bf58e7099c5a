from __future__ import annotations

import asyncio

from streaming.eventlog.memory import MemoryEventLog
from streaming.events import EventType


async def test_offsets_are_consecutive_from_one() -> None:
    log = MemoryEventLog()
    offsets = [await log.append("r", EventType.DELTA, {"text": str(i)}) for i in range(3)]
    assert offsets == [1, 2, 3]
    assert [e.data["text"] for e in (await log.read("r", 1, 0)).events] == ["1", "2"]


async def test_read_waits_for_the_next_event() -> None:
    log = MemoryEventLog()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    reader = asyncio.create_task(log.read("r", 1, 5))
    await asyncio.sleep(0.01)
    assert not reader.done()
    await log.append("r", EventType.DELTA, {"text": "x"})
    events = (await asyncio.wait_for(reader, 1)).events
    assert [e.offset for e in events] == [2]


async def test_read_times_out_empty() -> None:
    log = MemoryEventLog()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    assert (await log.read("r", 1, 0.01)).events == []


async def test_unknown_run_reads_nothing_and_does_not_exist() -> None:
    log = MemoryEventLog()
    assert (await log.read("nope", 0, 0.01)).events == []
    assert not await log.exists("nope")


async def test_closed_runs_expire_after_retention() -> None:
    log = MemoryEventLog(retention=0.05)
    await log.append("old", EventType.FINAL, {})
    await log.close("old")
    assert await log.exists("old")
    await asyncio.sleep(0.1)
    assert not await log.exists("old")


async def test_close_wakes_waiters() -> None:
    log = MemoryEventLog()
    await log.append("r", EventType.FINAL, {})
    reader = asyncio.create_task(log.read("r", 1, 5))
    await asyncio.sleep(0.01)
    await log.close("r")
    assert (await asyncio.wait_for(reader, 1)).events == []


async def test_a_finished_run_is_compacted_after_a_while() -> None:
    log = MemoryEventLog(compact_after=0.1)
    await log.append("r", EventType.DELTA, {"text": "a"})
    await log.append("r", EventType.TAIL, {"html": "<p>a</p>"})
    await log.append("r", EventType.ANNOUNCE, {"text": "a"})
    await log.append("r", EventType.FINAL, {"status": "complete"})
    await log.close("r")
    # A page cut off near the end and back within a moment replays every event.
    assert [e.offset for e in (await log.read("r", 0, 0)).events] == [1, 2, 3, 4]
    await asyncio.sleep(0.2)
    events = (await log.read("r", 0, 0)).events
    assert [(e.offset, e.type) for e in events] == [
        (2, EventType.REPLACE),
        (3, EventType.ANNOUNCE),
        (4, EventType.FINAL),
    ]
    assert events[0].data == {"html": "<p>a</p>", "text": "a"}
    assert [e.offset for e in (await log.read("r", 2, 0)).events] == [3, 4]
    assert (await log.read("r", 4, 0)).events == []
    assert await log.exists("r")


async def test_a_run_closed_without_final_keeps_every_event() -> None:
    log = MemoryEventLog(compact_after=0.0)
    await log.append("r", EventType.TAIL, {"html": "<p>a</p>"})
    await log.append("r", EventType.TAIL, {"html": "<p>ab</p>"})
    await log.close("r")
    await asyncio.sleep(0.05)
    assert [e.offset for e in (await log.read("r", 0, 0)).events] == [1, 2]


async def test_a_long_live_run_keeps_only_its_recent_events_as_written() -> None:
    period = 0.1
    log = MemoryEventLog(compact_after=period)
    await log.append("r", EventType.DELTA, {"text": "a\n\nb"})
    await log.append("r", EventType.BLOCK, {"html": "<p>a</p>"})
    await log.append("r", EventType.TAIL, {"html": "<p>b</p>"})
    await asyncio.sleep(period * 1.5)  # one trim: these three are now one period old
    await log.append("r", EventType.TAIL, {"ops": [[1, "c"]]})
    assert [e.offset for e in (await log.read("r", 0, 0)).events] == [1, 2, 3, 4]
    await asyncio.sleep(period)  # the next trim folds them
    events = (await log.read("r", 0, 0)).events
    assert [(e.offset, e.type) for e in events] == [(3, EventType.REPLACE), (4, EventType.TAIL)]
    # The text so far is folded too: the JSON stream's snapshot after compaction.
    assert events[0].data == {"html": "<p>a</p>", "tail": "<p>b</p>", "text": "a\n\nb"}
    assert [e.offset for e in (await log.read("r", 3, 0)).events] == [4]
    assert await log.append("r", EventType.DELTA, {"text": "d"}) == 5
    # A reader waiting at the end still wakes on the next event.
    reader = asyncio.create_task(log.read("r", 5, 5))
    await asyncio.sleep(0.01)
    await log.append("r", EventType.FINAL, {"status": "complete"})
    assert [e.offset for e in (await asyncio.wait_for(reader, 1)).events] == [6]
    await log.close("r")


async def test_a_final_event_is_never_folded_while_the_log_stays_open() -> None:
    period = 0.05
    log = MemoryEventLog(compact_after=period)
    await log.append("r", EventType.TAIL, {"html": "<p>a</p>"})
    await log.append("r", EventType.TAIL, {"html": "<p>ab</p>"})
    await log.append("r", EventType.FINAL, {"status": "complete"})
    await asyncio.sleep(period * 3)  # two trims and more, no close
    events = (await log.read("r", 0, 0)).events
    assert [(e.offset, e.type) for e in events] == [(2, EventType.REPLACE), (3, EventType.FINAL)]
    assert events[-1].data == {"status": "complete"}
