"""RedisEventLog beyond the shared contract: processes, expiry, cancel keys, pools.

Ownership (heartbeats, Stop between processes) is tests/test_eventlog_owners.py's.

Runs against the real Redis at 127.0.0.1:6379 (skips when unreachable, fails
under SPOOL_REQUIRE_SERVICES=1). The shared behaviour is in
tests/test_eventlog_contract.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streaming.eventlog.redis import RedisEventLog
from streaming.events import EventType
from tests.support.eventlogs import LONG_WAIT_S, PROMPT_S, REDIS_URL, RedisLogs
from tests.support.services import REDIS, require_service

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent

# A second process: appends COUNT events tagged "child" once told "go" on stdin,
# then prints the offsets it was given.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from streaming.eventlog.redis import RedisEventLog
    from streaming.events import EventType

    async def main(url, prefix, run_id, count):
        log = RedisEventLog(url, key_prefix=prefix)
        try:
            await log.exists(run_id)  # connected before we say ready
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            offsets = [
                await log.append(run_id, EventType.DELTA, {"from": "child", "i": i})
                for i in range(count)
            ]
            print(" ".join(map(str, offsets)), flush=True)
        finally:
            await log.aclose()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


@pytest.fixture
async def redis_logs() -> AsyncIterator[RedisLogs]:
    require_service("Redis", REDIS)
    logs = RedisLogs()
    try:
        yield logs
    finally:
        await logs.cleanup()


async def _child(logs: RedisLogs, run_id: str, count: int) -> asyncio.subprocess.Process:
    """Start the appending process and wait until it is connected."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        REDIS_URL,
        logs.prefix,
        run_id,
        str(count),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), LONG_WAIT_S) == b"ready\n"
    return proc


async def _child_offsets(proc: asyncio.subprocess.Process) -> list[int]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    line = await asyncio.wait_for(proc.stdout.readline(), LONG_WAIT_S)
    assert await asyncio.wait_for(proc.wait(), LONG_WAIT_S) == 0
    return [int(x) for x in line.split()]


async def test_entries_are_offset_ids_with_type_and_json_data(redis_logs: RedisLogs) -> None:
    log = redis_logs.make()
    await log.append("r", EventType.DELTA, {"text": "é"})
    await log.append("r", EventType.TAIL, {"html": "<p>é</p>"})
    raw = await redis_logs.redis.xrange(redis_logs.key("r"))
    assert raw == [
        ("1-0", {"type": "delta", "data": '{"text":"é"}'}),
        ("2-0", {"type": "tail", "data": '{"html":"<p>é</p>"}'}),
    ]


async def test_another_process_appends_and_a_blocked_reader_here_wakes(
    redis_logs: RedisLogs,
) -> None:
    log = redis_logs.make()
    proc = await _child(redis_logs, "r", 3)
    reader = asyncio.create_task(log.read("r", 0, LONG_WAIT_S))
    await asyncio.sleep(0.05)
    assert not reader.done()
    child_offsets = await _child_offsets(proc)
    events = (await asyncio.wait_for(reader, LONG_WAIT_S)).events
    events += (await log.read("r", events[-1].offset, 0)).events
    assert child_offsets == [1, 2, 3]
    assert [(e.offset, e.data) for e in events] == [
        (i + 1, {"from": "child", "i": i}) for i in range(3)
    ]


async def test_two_processes_appending_at_once_share_one_offset_sequence(
    redis_logs: RedisLogs,
) -> None:
    count = 100
    log = redis_logs.make()
    proc = await _child(redis_logs, "r", count)
    child, mine = await asyncio.gather(
        _child_offsets(proc),
        asyncio.gather(
            *(log.append("r", EventType.DELTA, {"from": "parent", "i": i}) for i in range(count))
        ),
    )
    assert sorted(child + mine) == list(range(1, 2 * count + 1))
    events = (await log.read("r", 0, 0)).events
    assert [e.offset for e in events] == list(range(1, 2 * count + 1))
    by_offset = {e.offset: e.data["from"] for e in events}
    assert {by_offset[o] for o in child} == {"child"}
    assert {by_offset[o] for o in mine} == {"parent"}


async def test_two_clients_appending_at_once_never_duplicate_or_skip(
    redis_logs: RedisLogs,
) -> None:
    a, b = redis_logs.make(), redis_logs.make()
    offsets = await asyncio.gather(
        *(log.append("r", EventType.DELTA, {"i": i}) for i in range(100) for log in (a, b))
    )
    assert sorted(offsets) == list(range(1, 201))
    assert [e.offset for e in (await b.read("r", 0, 0)).events] == list(range(1, 201))


async def test_live_stream_has_a_rolling_expiry_and_close_sets_retention(
    redis_logs: RedisLogs,
) -> None:
    log = redis_logs.make(retention_s=30, live_ttl_s=600)
    await log.append("r", EventType.FINAL, {})
    assert 590_000 < await redis_logs.redis.pttl(redis_logs.key("r")) <= 600_000
    await log.close("r")
    assert 20_000 < await redis_logs.redis.pttl(redis_logs.key("r")) <= 30_000


async def test_a_run_whose_owner_died_expires_by_itself(redis_logs: RedisLogs) -> None:
    log = redis_logs.make(live_ttl_s=0.2)
    await log.append("r", EventType.STATUS, {"state": "streaming"})
    await asyncio.sleep(0.1)
    await log.append("r", EventType.DELTA, {"text": "x"})  # each append re-arms it
    await asyncio.sleep(0.15)
    assert await log.exists("r")
    await asyncio.sleep(0.2)
    assert not await log.exists("r")


async def test_close_is_idempotent_and_takes_no_offset(redis_logs: RedisLogs) -> None:
    log = redis_logs.make()
    await log.append("r", EventType.FINAL, {})
    await log.close("r")
    await log.close("r")
    assert await redis_logs.redis.xlen(redis_logs.key("r")) == 2  # the event + one end marker
    assert [e.offset for e in (await log.read("r", 0, 0)).events] == [1]
    # Appending after close (never done by a run) still continues the sequence.
    assert await log.append("r", EventType.DELTA, {}) == 2


async def test_closing_an_unknown_run_creates_nothing(redis_logs: RedisLogs) -> None:
    log = redis_logs.make()
    await log.close("nope")
    assert not await log.exists("nope")
    assert not await redis_logs.redis.exists(redis_logs.key("nope", "cancel"))


async def test_a_stop_request_nobody_answers_leaves_an_expiring_cancel_key(
    redis_logs: RedisLogs,
) -> None:
    log = redis_logs.make(cancel_ttl_s=0.3)
    assert await log.cancel_requested("r") == (False, None)
    assert not await log.request_stop("r", 3, timeout_s=0.05)
    assert await log.cancel_requested("r") == (True, 3)
    await asyncio.sleep(0.45)
    assert await log.cancel_requested("r") == (False, None)


async def test_discard_forgets_a_stop_nobody_answered(redis_logs: RedisLogs) -> None:
    """Continue runs the same run id again: a stale stop request must not stop it."""
    log = redis_logs.make(cancel_ttl_s=600)
    await log.append("r", EventType.FINAL, {})
    assert not await log.request_stop("r", 1, timeout_s=0.05)
    await log.close("r")
    await log.discard("r")
    assert await log.cancel_requested("r") == (False, None)
    assert not await log.exists("r")


async def test_close_gives_the_cancel_key_the_run_retention(redis_logs: RedisLogs) -> None:
    log = redis_logs.make(retention_s=5, cancel_ttl_s=600)
    await log.append("r", EventType.FINAL, {})
    await log.request_stop("r", 1, timeout_s=0.05)
    await log.close("r")
    assert 0 < await redis_logs.redis.pttl(redis_logs.key("r", "cancel")) <= 5_000


async def test_maxlen_bounds_the_stream_and_trimming_is_logged(
    redis_logs: RedisLogs, caplog: pytest.LogCaptureFixture
) -> None:
    log = redis_logs.make(maxlen=10)
    for i in range(300):
        last = await log.append("r", EventType.DELTA, {"i": i})
    assert last == 300
    length = await redis_logs.redis.xlen(redis_logs.key("r"))
    assert 10 <= length < 300
    with caplog.at_level(logging.WARNING, logger="streaming.eventlog.redis"):
        events = (await log.read("r", 0, 0)).events
    assert [e.offset for e in events] == list(range(301 - length, 301))
    assert "trimmed" in caplog.text


async def test_a_tiny_wait_still_times_out(redis_logs: RedisLogs) -> None:
    # XREAD BLOCK 0 means "forever"; a sub-millisecond wait must not become it.
    log = redis_logs.make()
    await log.append("r", EventType.STATUS, {})
    assert (await asyncio.wait_for(log.read("r", 1, 0.0001), 2)).events == []


async def test_cancelled_reads_give_their_connection_back(redis_logs: RedisLogs) -> None:
    log = redis_logs.make(max_readers=1)
    await log.append("r", EventType.STATUS, {})
    for _ in range(5):
        reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
        await asyncio.sleep(0.02)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
    # With a leaked connection this read would wait for the pool, not Redis.
    reader = asyncio.create_task(log.read("r", 1, LONG_WAIT_S))
    await asyncio.sleep(0.05)
    await log.append("r", EventType.DELTA, {})
    assert [e.offset for e in (await asyncio.wait_for(reader, 2)).events] == [2]


async def test_blocked_readers_do_not_hold_up_appends(redis_logs: RedisLogs) -> None:
    log = redis_logs.make(max_readers=2)
    await log.append("r", EventType.STATUS, {})
    readers = [asyncio.create_task(log.read("r", 1, LONG_WAIT_S)) for _ in range(2)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    assert await log.append("r", EventType.DELTA, {}) == 2
    assert await log.exists("r")
    assert time.perf_counter() - started < PROMPT_S
    results = await asyncio.wait_for(asyncio.gather(*readers), LONG_WAIT_S)
    assert [[e.offset for e in batch.events] for batch in results] == [[2], [2]]


async def test_aclose_then_a_new_log_reads_the_same_run(redis_logs: RedisLogs) -> None:
    first = RedisEventLog(REDIS_URL, key_prefix=redis_logs.prefix)
    await first.append("r", EventType.FINAL, {})
    await first.aclose()
    assert [e.offset for e in (await redis_logs.make().read("r", 0, 0)).events] == [1]
