"""``follow``: a subscriber's loop over the log ends, or waits, never spins."""

from __future__ import annotations

import asyncio
import time

import pytest

from streaming.events import EventType
from streaming.follow import follow
from tests.support.eventlogs import LONG_WAIT_S, PROMPT_S, MakeLog, RedisLogs
from tests.support.services import REDIS, require_service


async def _collect(
    log, after: int, heartbeat_s: float = LONG_WAIT_S, liveness_s: float | None = None
) -> list[int | None]:
    seen: list[int | None] = []
    async for batch in follow(log, "r", after, heartbeat_s=heartbeat_s, liveness_s=liveness_s):
        seen.extend([e.offset for e in batch] or [None])
    return seen


async def _finished_run(make_log: MakeLog):
    log = make_log()
    for _ in range(3):
        await log.append("r", EventType.DELTA, {"text": "x"})
    await log.append("r", EventType.FINAL, {"status": "complete"})
    await log.close("r")
    return log


async def test_follows_to_the_final_event_and_stops(make_log: MakeLog) -> None:
    log = await _finished_run(make_log)
    assert await _collect(log, 1) == [2, 3, 4]


async def test_at_the_end_of_a_closed_run_it_ends_at_once(make_log: MakeLog) -> None:
    log = await _finished_run(make_log)
    started = time.perf_counter()
    assert await asyncio.wait_for(_collect(log, 4), LONG_WAIT_S) == []
    assert time.perf_counter() - started < PROMPT_S


@pytest.mark.parametrize("after", [5, 10**6, 10**30])
async def test_past_the_end_of_a_closed_run_it_ends_within_one_wait(
    make_log: MakeLog, after: int
) -> None:
    log = await _finished_run(make_log)
    heartbeat_s = 0.3
    started = time.perf_counter()
    assert await asyncio.wait_for(_collect(log, after, heartbeat_s), LONG_WAIT_S) == []
    assert time.perf_counter() - started < 2 * heartbeat_s + PROMPT_S


async def test_a_log_closed_without_final_ends_the_loop(make_log: MakeLog) -> None:
    log = make_log()
    await log.append("r", EventType.DELTA, {"text": "x"})
    await log.close("r")
    assert await asyncio.wait_for(_collect(log, 0), LONG_WAIT_S) == [1]


async def _nothing(seen: int | None) -> None:
    """A run's Stop handler, for runs these tests never stop."""


async def test_a_quiet_live_run_gives_heartbeats_only_after_real_waits(make_log: MakeLog) -> None:
    log = make_log()
    await log.own("r", _nothing)  # a shared log's run is live only while its owner beats
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    heartbeat_s = 0.2
    seen: list[int | None] = []
    started = time.perf_counter()
    async for batch in follow(log, "r", 1, heartbeat_s=heartbeat_s):
        seen.extend([e.offset for e in batch] or [None])
        if len(seen) == 2:
            break
    assert seen == [None, None]
    assert time.perf_counter() - started >= 2 * heartbeat_s * 0.9
    log.disown("r")


async def test_liveness_checks_do_not_add_heartbeats(make_log: MakeLog) -> None:
    log = make_log()
    await log.own("r", _nothing)
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    seen: list[int | None] = []
    started = time.perf_counter()
    async for batch in follow(log, "r", 1, heartbeat_s=0.4, liveness_s=0.1):
        seen.extend([e.offset for e in batch] or [None])
        break
    assert seen == [None]
    assert time.perf_counter() - started >= 0.4 * 0.9
    log.disown("r")


@pytest.mark.services
async def test_a_run_whose_owner_died_ends_the_loop_within_a_liveness_check() -> None:
    require_service("Redis", REDIS)
    logs = RedisLogs()
    try:
        owner = logs.make(beat_s=0.05, owner_ttl_s=0.2)
        reader = logs.make()
        await owner.own("r", _nothing)
        await owner.append("r", EventType.STATUS, {"state": "streaming"})
        follower = asyncio.create_task(_collect(reader, 1, heartbeat_s=LONG_WAIT_S, liveness_s=0.1))
        await asyncio.sleep(0.5)
        assert not follower.done()  # alive: its owner beats
        owner.disown("r")  # its process died: no more beats, no close
        died = time.perf_counter()
        assert await asyncio.wait_for(follower, LONG_WAIT_S) == []
        assert time.perf_counter() - died < 0.2 + 0.1 + PROMPT_S
    finally:
        await logs.cleanup()


async def test_a_live_run_is_followed_as_it_grows(make_log: MakeLog) -> None:
    log = make_log()
    await log.own("r", _nothing)
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    task = asyncio.create_task(_collect(log, 1))
    await asyncio.sleep(0.05)
    assert not task.done()
    await log.append("r", EventType.DELTA, {"text": "x"})
    await log.append("r", EventType.FINAL, {"status": "complete"})
    assert await asyncio.wait_for(task, LONG_WAIT_S) == [2, 3]
