"""streaming/eventlog/owners.py through real Redis: heartbeats say whether a
run's owner lives (a killed process is seen within the key's lapse), and a
Stop reaches the owner in another log (another process's) by pub/sub and is
acknowledged, or by its cancel key when the message was missed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streaming.eventlog.base import Liveness
from streaming.events import EventType
from tests.support.eventlogs import LONG_WAIT_S, PROMPT_S, REDIS_URL, RedisLogs
from tests.support.services import REDIS, require_service

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
# Short, so the tests see keys lapse; the production values are seconds.
BEAT_S = 0.1
TTL_S = 0.4

# A process that owns run "r" (first event written), says so, then waits to be killed.
OWNER = textwrap.dedent(
    """
    import asyncio, sys
    from streaming.eventlog.redis import RedisEventLog
    from streaming.events import EventType

    async def main(url, prefix, beat_s, ttl_s):
        log = RedisEventLog(url, key_prefix=prefix, beat_s=beat_s, owner_ttl_s=ttl_s)
        async def on_stop(seen):
            pass
        await log.own("r", on_stop)
        await log.append("r", EventType.STATUS, {"state": "streaming"})
        print("owning", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
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


async def _never_stopped(seen: int | None) -> None:
    raise AssertionError("not expected to be stopped")


async def test_an_owned_open_run_is_open_and_stays_so_past_the_ttl(redis_logs: RedisLogs) -> None:
    owner = redis_logs.make(beat_s=BEAT_S, owner_ttl_s=TTL_S)
    reader = redis_logs.make()
    assert await reader.liveness("r") is Liveness.ABSENT
    await owner.own("r", _never_stopped)
    await owner.append("r", EventType.STATUS, {"state": "streaming"})
    for _ in range(3):
        await asyncio.sleep(TTL_S)
        assert await reader.liveness("r") is Liveness.OPEN


async def test_a_run_nobody_beats_for_is_abandoned_after_the_ttl(redis_logs: RedisLogs) -> None:
    owner = redis_logs.make(beat_s=BEAT_S, owner_ttl_s=TTL_S)
    reader = redis_logs.make()
    await owner.own("r", _never_stopped)
    await owner.append("r", EventType.STATUS, {"state": "streaming"})
    owner.disown("r")  # as if its process had died: no more beats
    started = time.monotonic()
    while (state := await reader.liveness("r")) is Liveness.OPEN:
        assert time.monotonic() - started < TTL_S + PROMPT_S
        await asyncio.sleep(0.02)
    assert state is Liveness.ABANDONED
    assert time.monotonic() - started > TTL_S - BEAT_S - PROMPT_S


async def test_a_closed_run_is_closed_and_its_owner_key_is_gone(redis_logs: RedisLogs) -> None:
    owner = redis_logs.make(beat_s=BEAT_S, owner_ttl_s=TTL_S)
    await owner.own("r", _never_stopped)
    await owner.append("r", EventType.FINAL, {})
    await owner.close("r")
    owner.disown("r")
    assert await owner.liveness("r") is Liveness.CLOSED
    assert not await redis_logs.redis.exists(redis_logs.key("r", "owner"))
    await asyncio.sleep(TTL_S + BEAT_S)
    assert await owner.liveness("r") is Liveness.CLOSED


async def test_a_killed_owner_process_is_seen_abandoned_within_the_ttl(
    redis_logs: RedisLogs,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OWNER, REDIS_URL, redis_logs.prefix, str(BEAT_S), str(TTL_S),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), LONG_WAIT_S) == b"owning\n"
    reader = redis_logs.make()
    await asyncio.sleep(2 * TTL_S)
    assert await reader.liveness("r") is Liveness.OPEN  # its beats keep it so
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    killed = time.monotonic()
    while await reader.liveness("r") is Liveness.OPEN:
        assert time.monotonic() - killed < TTL_S + PROMPT_S
        await asyncio.sleep(0.02)
    assert await reader.liveness("r") is Liveness.ABANDONED


async def test_a_stop_reaches_the_owner_in_another_log_and_is_acknowledged(
    redis_logs: RedisLogs,
) -> None:
    owner, web = redis_logs.make(), redis_logs.make()
    stopped: list[tuple[int | None, float]] = []

    async def on_stop(seen: int | None) -> None:
        stopped.append((seen, time.monotonic()))
        await asyncio.sleep(0.2)  # saving the answer: the ack waits for it

    await owner.own("r", on_stop)
    await owner.append("r", EventType.STATUS, {"state": "streaming"})
    asked = time.monotonic()
    assert await web.request_stop("r", 17, timeout_s=LONG_WAIT_S)
    answered = time.monotonic()
    assert [seen for seen, _ in stopped] == [17]
    assert stopped[0][1] - asked < PROMPT_S  # no polling delay
    assert 0.2 <= answered - asked < 0.2 + PROMPT_S  # right after the owner returned


async def test_a_stop_for_a_run_nobody_owns_is_not_acknowledged(redis_logs: RedisLogs) -> None:
    owner, web = redis_logs.make(), redis_logs.make()
    await owner.own("other", _never_stopped)
    started = time.monotonic()
    assert not await web.request_stop("r", None, timeout_s=0.3)
    assert 0.3 <= time.monotonic() - started < 0.3 + PROMPT_S


async def test_a_missed_stop_message_still_stops_the_run_by_its_cancel_key(
    redis_logs: RedisLogs,
) -> None:
    owner = redis_logs.make(beat_s=BEAT_S, owner_ttl_s=TTL_S)
    stopped = asyncio.Event()
    seen_by_owner: list[int | None] = []

    async def on_stop(seen: int | None) -> None:
        seen_by_owner.append(seen)
        stopped.set()

    await owner.own("r", on_stop)
    # The key without the message, as when the owner's listener was reconnecting.
    await redis_logs.redis.set(redis_logs.key("r", "cancel"), "5")
    await asyncio.wait_for(stopped.wait(), BEAT_S + PROMPT_S)
    assert seen_by_owner == [5]


async def test_owning_a_run_clears_a_stop_meant_for_its_previous_run(
    redis_logs: RedisLogs,
) -> None:
    owner = redis_logs.make(beat_s=BEAT_S, owner_ttl_s=TTL_S)
    await redis_logs.redis.set(redis_logs.key("r", "cancel"), "5")
    await owner.own("r", _never_stopped)
    await asyncio.sleep(3 * BEAT_S)  # beats that would have found the key
    assert await owner.cancel_requested("r") == (False, None)
