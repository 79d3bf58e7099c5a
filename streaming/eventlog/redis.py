"""Redis Streams event log: any number of server processes share every run.

Same contract as ``streaming/eventlog/base.py``; on top of it:

- Keys per run: ``{prefix}{run_id}:events`` (the stream),
  ``{prefix}{run_id}:owner`` (the owner's heartbeat) and
  ``{prefix}{run_id}:cancel`` (a stop request); ownership and Stop between
  processes are ``streaming/eventlog/owners.py``'s.
- Stream entry ids *are* the offsets: event N has id ``N-0``. Redis compares
  ids as (ms, seq) pairs, so "offset > after" is exactly "id > ``after``-0",
  which is what XREAD answers natively (exclusive, and it blocks when nothing
  is newer). The ms part is only a number to Redis; nothing reads it as time.
- Offsets are assigned inside a Lua script (read the last id, XADD the next
  one), which Redis runs atomically: two processes appending to one run can
  never take the same offset or skip one.
- ``close`` adds one *end marker* with id ``N-1`` (between event N and a
  would-be N+1, so it takes no offset) and no ``type`` field. It wakes every
  blocked XREAD, as closing the memory log does, and readers drop it. The
  stream then expires ``retention_s`` after the close.
- While a run is live its stream expires ``live_ttl_s`` after its latest
  append, so a run whose owning process crashed disappears by itself. It is
  recognised long before that: its heartbeat lapses within seconds, and
  ``liveness`` then says ``ABANDONED`` (``chatapp/live.py`` marks the answer
  interrupted).
- Not for Redis Cluster as is: ``close`` touches two keys in one script.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from streaming.eventlog.base import Batch, Liveness, OnStop
from streaming.eventlog.memory import RETENTION_S
from streaming.eventlog.owners import BEAT_S, OWNER_TTL_S, Owners
from streaming.events import Event, EventType

logger = logging.getLogger(__name__)

# A stream keeps about this many entries (MAXLEN ~, trimmed in whole radix-tree
# nodes, so never fewer). It is a memory safety net, not a working limit: a run
# emits at most ~3 events per 50 ms frame (delta, tail, sometimes a block), so
# a 10-minute run at full pace needs ~36 000. Trimming drops the oldest events,
# which a snapshot (a fold from offset 0) would then miss; ``read`` logs it.
MAXLEN = 50_000
# A live stream expires this long after its latest append (a crashed owner's
# run vanishes). Must exceed the longest silence of a live run, which the
# wall-clock budget (SPOOL_RUN_WALL_CLOCK_S, 600 s by default) bounds.
LIVE_TTL_S = 900.0
# A stop request outlives any run it could still concern (wall-clock budget).
CANCEL_TTL_S = 600.0
# Each SSE subscriber blocked in ``read`` holds one connection for up to its
# wait (the 15 s heartbeat), so this caps concurrent subscribers per process;
# one more waits for a free connection, up to READER_POOL_WAIT_S, then fails.
MAX_READERS = 512
READER_POOL_WAIT_S = 20.0
# Appends, close, exists and the cancel key are sub-millisecond commands.
MAX_COMMAND_CONNECTIONS = 32
COMMAND_POOL_WAIT_S = 5.0
# A command (never a blocking read) slower than this means Redis is unwell:
# fail the run's write rather than hang it.
COMMAND_TIMEOUT_S = 5.0
# Stream ids are 64-bit: a larger offset (from a bogus Last-Event-ID) would be
# an invalid id; clamped, it is simply past the end of every run.
MAX_OFFSET = 2**63 - 1
# Reads are idempotent, so a dropped connection is retried a couple of times.
READ_RETRIES = 2

_TYPE = "type"
_DATA = "data"
_END = "end"

# KEYS[1] stream; ARGV maxlen, type, json data, live ttl ms -> the new offset.
_APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local offset = 1
if #last > 0 then
  offset = tonumber(string.match(last[1][1], '^(%d+)-')) + 1
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], offset .. '-0',
           'type', ARGV[2], 'data', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return offset
"""

# KEYS[1] stream, KEYS[2] cancel key, KEYS[3] owner key; ARGV retention ms. Idempotent.
_CLOSE = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then
  return 0
end
local ms, seq = string.match(last[1][1], '^(%d+)-(%d+)$')
if seq == '0' then
  redis.call('XADD', KEYS[1], ms .. '-1', 'end', '1')
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
"""

# KEYS[1] stream, KEYS[2] owner key -> 0 absent, 1 open, 2 closed, 3 abandoned
# (the values of ``Liveness``). One script: the answer is one moment's.
_LIVENESS = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then
  return 0
end
local fields = last[1][2]
for i = 1, #fields, 2 do
  if fields[i] == 'end' then
    return 2
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 1
end
return 3
"""


class RedisEventLog:
    """Events per run in a Redis Stream, shared by every process using ``url``.

    Two connection pools: blocking reads park on one, so they can never starve
    the run's appends on the other. Commands are not retried (an append that
    timed out may have happened; a blind retry would duplicate the event).
    Call ``aclose`` on shutdown.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "spool:run:",
        maxlen: int = MAXLEN,
        retention_s: float = RETENTION_S,
        live_ttl_s: float = LIVE_TTL_S,
        cancel_ttl_s: float = CANCEL_TTL_S,
        max_readers: int = MAX_READERS,
        beat_s: float = BEAT_S,
        owner_ttl_s: float = OWNER_TTL_S,
    ) -> None:
        self._prefix = key_prefix
        self._maxlen = maxlen
        self._retention_ms = _ms(retention_s)
        self._live_ttl_ms = _ms(live_ttl_s)
        self._cancel_ttl_ms = _ms(cancel_ttl_s)
        # protocol=2 pins the reply shapes parsed below (RESP3 nests differently).
        self._commands: Redis = Redis(
            connection_pool=BlockingConnectionPool.from_url(
                url,
                max_connections=MAX_COMMAND_CONNECTIONS,
                timeout=COMMAND_POOL_WAIT_S,
                socket_timeout=COMMAND_TIMEOUT_S,
                decode_responses=True,
                protocol=2,
            )
        )
        # No socket timeout here: XREAD BLOCK bounds each wait server-side,
        # and a cancelled read drops its connection (redis-py disconnects it).
        self._readers: Redis = Redis(
            connection_pool=BlockingConnectionPool.from_url(
                url,
                max_connections=max_readers,
                timeout=READER_POOL_WAIT_S,
                decode_responses=True,
                protocol=2,
                retry=Retry(ExponentialBackoff(), READ_RETRIES),
            )
        )
        self._append = self._commands.register_script(_APPEND)
        self._close = self._commands.register_script(_CLOSE)
        self._liveness = self._commands.register_script(_LIVENESS)
        self.owners = Owners(
            url,
            self._commands,
            key=self._key,
            channel_prefix=key_prefix,
            cancel_ttl_ms=self._cancel_ttl_ms,
            beat_s=beat_s,
            ttl_s=owner_ttl_s,
        )

    def _key(self, run_id: str, kind: str) -> str:
        return f"{self._prefix}{run_id}:{kind}"

    def _events_key(self, run_id: str) -> str:
        return self._key(run_id, "events")

    async def append(self, run_id: str, type: EventType, data: dict[str, Any]) -> int:
        """Append one event; returns its offset (1, 2, 3… per run, atomically)."""
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        offset = await self._append(
            keys=[self._events_key(run_id)],
            args=[self._maxlen, type.value, payload, self._live_ttl_ms],
        )
        return int(offset)

    async def read(self, run_id: str, after: int, wait_s: float) -> Batch:
        """Events with offset > ``after``, in order; empty after ``wait_s`` without any.

        Returns at once when the run is closed: the end marker sorts after the
        final event, so XREAD returns it (and the batch is ``closed``) even to a
        reader that already has everything. A reader *past* the end (an offset
        the log never gave out) is not reached by the marker: its XREAD waits,
        and the empty reply is then checked against the stream's last entry, so
        it is told ``closed`` after one wait. A stream Redis does not hold
        (never created, or expired) makes XREAD wait for it: a real wait.
        ``wait_s <= 0`` never blocks. Cancelling a blocked read is prompt and
        leaves the log usable.
        """
        key = self._events_key(run_id)
        last_id = f"{min(max(after, 0), MAX_OFFSET)}-0"
        if wait_s <= 0:
            reply = await self._commands.xread({key: last_id})
        else:
            # Round up: BLOCK 0 would mean "forever", so a tiny wait must not become it.
            block_ms = math.ceil(wait_s * 1000)
            reply = await self._readers.xread({key: last_id}, block=block_ms)
        events, closed = _events(reply)
        if not reply:
            # Nothing newer after the whole wait: rare (one per heartbeat for
            # an idle subscriber), so one more command to tell "not yet" from
            # "never" costs nothing that matters.
            closed = await self._ends_closed(key)
        if events and events[0].offset != after + 1 and after >= 0:
            logger.warning(
                "run %s: events %d..%d were trimmed (maxlen %d); readers missed them",
                run_id,
                after + 1,
                events[0].offset - 1,
                self._maxlen,
            )
        return Batch(events, closed)

    async def _ends_closed(self, key: str) -> bool:
        """Whether the stream's last entry is the end marker (the run is closed)."""
        last = await self._commands.xrevrange(key, "+", "-", count=1)
        if not last:
            return False
        _entry_id, fields = last[0]
        return fields is not None and _END in fields

    async def close(self, run_id: str) -> None:
        """Mark the run ended (wakes blocked readers); keep it ``retention_s``."""
        await self._close(
            keys=[self._events_key(run_id), self._key(run_id, "cancel"), self.owners.key(run_id)],
            args=[self._retention_ms],
        )

    async def exists(self, run_id: str) -> bool:
        """True from the first append until the stream expires."""
        return bool(await self._commands.exists(self._events_key(run_id)))

    async def discard(self, run_id: str) -> None:
        """Delete the run's stream, stop request and watch mark (Continue starts it again)."""
        await self._commands.delete(
            self._events_key(run_id), self._key(run_id, "cancel"), self._key(run_id, "watch")
        )

    async def liveness(self, run_id: str) -> Liveness:
        """Whether the run is open and its owner alive (its heartbeat key is there)."""
        keys = [self._events_key(run_id), self.owners.key(run_id)]
        return Liveness(int(await self._liveness(keys=keys)))

    async def own(self, run_id: str, on_stop: OnStop) -> None:
        """This process runs ``run_id``: keep its heartbeat, hear Stops for it."""
        await self.owners.own(run_id, on_stop)

    def disown(self, run_id: str) -> None:
        self.owners.disown(run_id)

    async def request_stop(self, run_id: str, seen_offset: int | None, timeout_s: float) -> bool:
        """Ask the run's owner, whichever process it is, to stop it; True once it
        acknowledged (its stopped answer is saved). See ``Owners.request_stop``."""
        return await self.owners.request_stop(run_id, seen_offset, timeout_s)

    async def cancel_requested(self, run_id: str) -> tuple[bool, int | None]:
        """(whether a stop was requested, the ``seen_offset`` it carried)."""
        return await self.owners.cancel_requested(run_id)

    async def mark_watched(self, run_id: str, ttl_s: float) -> None:
        """A subscriber somewhere is watching the run; the mark lapses after ``ttl_s``."""
        await self._commands.set(self._key(run_id, "watch"), "1", px=_ms(ttl_s))

    async def watched(self, run_id: str) -> bool:
        return bool(await self._commands.exists(self._key(run_id, "watch")))

    async def aclose(self) -> None:
        """Close both connection pools and the owners' tasks (process shutdown;
        the log is unusable after)."""
        await self.owners.aclose()
        await self._readers.connection_pool.aclose()
        await self._commands.connection_pool.aclose()


def _events(reply: Any) -> tuple[list[Event], bool]:
    """Events from an XREAD reply (RESP2: ``[[key, [(id, {field: value}), ...]]]``),
    and whether the reply held the end marker (the log is closed)."""
    events: list[Event] = []
    closed = False
    for _key, entries in reply or []:
        for entry_id, fields in entries:
            if _TYPE in fields:
                events.append(
                    Event(
                        int(entry_id.partition("-")[0]),
                        EventType(fields[_TYPE]),
                        json.loads(fields[_DATA]),
                    )
                )
            elif _END in fields:
                closed = True  # the end marker: no event, the run is over
    return events, closed


def _ms(seconds: float) -> int:
    """Seconds as whole milliseconds for PEXPIRE/PX, at least 1 (0 is invalid there)."""
    return max(1, math.ceil(seconds * 1000))
