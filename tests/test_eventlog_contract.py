"""The EventLog contract (streaming/eventlog/base.py), run against every backend.

Each test gets ``make_log``: a factory for logs of one backend that share
state (for Redis: one unique key prefix, deleted afterwards). Redis tests skip
when the server is unreachable, and fail instead under SPOOL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from streaming.eventlog.base import EventLog
from streaming.eventlog.memory import RETENTION_S, MemoryEventLog
from streaming.eventlog.redis import RedisEventLog
from streaming.events import EventType
from tests.conftest import REDIS, require_service

REDIS_URL = f"redis://{REDIS[0]}:{REDIS[1]}/0"

# A wake-up or a cancel must reach the reader within this (SSE frames are 50 ms).
PROMPT_S = 0.1
# Long enough that a reader still blocked after it was not woken.
LONG_WAIT_S = 10.0

MakeLog = Callable[..., EventLog]


class RedisLogs:
    """Makes RedisEventLogs under one unique key prefix; ``cleanup`` deletes its keys."""

    def __init__(self) -> None:
        self.prefix = f"spool-test:{uuid4().hex}:"
        self._logs: list[RedisEventLog] = []
        self.redis = Redis.from_url(REDIS_URL, decode_responses=True)

    def make(self, retention_s: float = RETENTION_S, **kwargs: Any) -> RedisEventLog:
        log = RedisEventLog(REDIS_URL, key_prefix=self.prefix, retention_s=retention_s, **kwargs)
        self._logs.append(log)
        return log

    def key(self, run_id: str, kind: str = "events") -> str:
        return f"{self.prefix}{run_id}:{kind}"

    async def cleanup(self) -> None:
        for log in self._logs:
            await log.aclose()
        keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}*")]
        if keys:
            await self.redis.delete(*keys)
        await self.redis.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
async def make_log(request: pytest.FixtureRequest) -> AsyncIterator[MakeLog]:
    if request.param == "memory":
        shared: dict[float, MemoryEventLog] = {}

        def make_memory(retention_s: float = RETENTION_S) -> EventLog:
            # One process, one log object: "another instance" is the same one.
            return shared.setdefault(retention_s, MemoryEventLog(retention=retention_s))

        yield make_memory
        return
    require_service("Redis", REDIS)
    logs = RedisLogs()
    try:
        yield logs.make
    finally:
        await logs.cleanup()


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
    events = await log.read("r", 0, 0)
    assert [(e.offset, e.type, e.data) for e in events] == list(
        zip(offsets, types, data, strict=True)
    )
    assert events[-1].is_final


async def test_read_after_n_is_exclusive(make_log: MakeLog) -> None:
    log = make_log()
    for i in range(5):
        await log.append("r", EventType.DELTA, {"text": str(i)})
    assert [e.offset for e in await log.read("r", 2, 0)] == [3, 4, 5]
    assert [e.offset for e in await log.read("r", 4, 0)] == [5]
    assert await log.read("r", 5, 0) == []


async def test_zero_wait_never_blocks(make_log: MakeLog) -> None:
    # chatapp/live.py folds a snapshot with read(run_id, 0, 0) on a live run.
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    started = time.perf_counter()
    assert await log.read("r", 1, 0) == []
    assert time.perf_counter() - started < PROMPT_S


async def test_blocked_read_wakes_on_append(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
    await _blocked(reader)
    started = time.perf_counter()
    await log.append("r", EventType.DELTA, {"text": "x"})
    events = await asyncio.wait_for(reader, LONG_WAIT_S)
    assert time.perf_counter() - started < PROMPT_S
    assert [(e.offset, e.data) for e in events] == [(2, {"text": "x"})]


async def test_every_blocked_reader_gets_the_event(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    readers = [asyncio.create_task(log.read("r", 1, LONG_WAIT_S)) for _ in range(5)]
    await asyncio.sleep(0.05)
    await log.append("r", EventType.DELTA, {"text": "x"})
    results = await asyncio.wait_for(asyncio.gather(*readers), LONG_WAIT_S)
    assert [[e.offset for e in events] for events in results] == [[2]] * 5


async def test_read_times_out_empty_after_the_wait(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    started = time.perf_counter()
    assert await log.read("r", 1, 0.2) == []
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
    assert [e.data for e in await log.read("r", 1, 1)] == [{"text": "after"}]


async def test_close_wakes_blocked_readers(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.FINAL, {})
    reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
    await _blocked(reader)
    started = time.perf_counter()
    await log.close("r")
    assert await asyncio.wait_for(reader, LONG_WAIT_S) == []
    assert time.perf_counter() - started < PROMPT_S


async def test_closed_run_answers_at_once_and_keeps_its_events(make_log: MakeLog) -> None:
    log = make_log()
    for i in range(3):
        await log.append("r", EventType.DELTA, {"text": str(i)})
    await log.close("r")
    started = time.perf_counter()
    assert await log.read("r", 3, LONG_WAIT_S) == []
    assert time.perf_counter() - started < PROMPT_S
    assert [e.offset for e in await log.read("r", 0, LONG_WAIT_S)] == [1, 2, 3]
    assert [e.offset for e in await log.read("r", 2, LONG_WAIT_S)] == [3]


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
    assert await log.read("nope", 0, 0) == []
    assert await log.read("nope", 0, 0.05) == []
    assert not await log.exists("nope")


async def test_runs_are_independent(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("a", EventType.DELTA, {"text": "a1"})
    await log.append("b", EventType.DELTA, {"text": "b1"})
    assert await log.append("a", EventType.DELTA, {"text": "a2"}) == 2
    await log.close("b")
    assert [e.data["text"] for e in await log.read("a", 0, 0)] == ["a1", "a2"]
    assert [e.data["text"] for e in await log.read("b", 0, 0)] == ["b1"]


async def test_a_second_log_object_sees_the_same_run(make_log: MakeLog) -> None:
    # Memory: the same object (one process). Redis: a second client, as another process.
    writer, reader = make_log(), make_log()
    await writer.append("r", EventType.STATUS, {"state": "streaming"})
    assert await reader.exists("r")
    waiting = asyncio.create_task(reader.read("r", 1, LONG_WAIT_S))
    await _blocked(waiting)
    await writer.append("r", EventType.DELTA, {"text": "x"})
    assert [e.offset for e in await asyncio.wait_for(waiting, LONG_WAIT_S)] == [2]
