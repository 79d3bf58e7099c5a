"""Event logs for tests: a factory per backend, the same contract for both.

``make_log`` (registered in tests/conftest.py) is parametrised over the memory
log and a Redis log under a unique key prefix, deleted afterwards. Redis cases
skip when the server is unreachable, and fail under SPOOL_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from streaming.eventlog.base import EventLog
from streaming.eventlog.memory import COMPACT_AFTER_S, RETENTION_S, MemoryEventLog
from streaming.eventlog.redis import RedisEventLog
from tests.support.services import REDIS, require_service

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

    def make(
        self, retention_s: float = RETENTION_S, compact_after_s: float = 0.0, **kwargs: Any
    ) -> RedisEventLog:
        """``compact_after_s`` is the memory log's: Redis keeps every event of a run."""
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
        shared: dict[tuple[float, float], MemoryEventLog] = {}

        def make_memory(
            retention_s: float = RETENTION_S, compact_after_s: float = COMPACT_AFTER_S
        ) -> EventLog:
            # One process, one log object: "another instance" is the same one.
            key = (retention_s, compact_after_s)
            return shared.setdefault(key, MemoryEventLog(retention_s, compact_after_s))

        yield make_memory
        return
    require_service("Redis", REDIS)
    logs = RedisLogs()
    try:
        yield logs.make
    finally:
        await logs.cleanup()
