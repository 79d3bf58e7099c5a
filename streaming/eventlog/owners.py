"""Who owns a run on a shared Redis log: heartbeats and Stop across processes.

Part of ``streaming/eventlog/redis.py`` (``RedisEventLog`` holds one
``Owners``). Contract:

- **Heartbeat.** A process that owns runs keeps one key per run,
  ``{prefix}{run_id}:owner``, expiring ``ttl_s`` after its last refresh. ``own``
  sets it before the run's first event, so a run's log never exists without
  it while its owner lives; one task per process refreshes every owned run's
  key every ``beat_s`` (one pipeline for all of them). A reader that finds
  the key gone while the log is open knows the owner died
  (``Liveness.ABANDONED``): no waiting for the stream's own expiry.
- **Stop.** ``request_stop`` sets the run's cancel key, publishes the request
  on one channel that every process's listener hears, and waits for the
  owner's acknowledgement on this process's own reply channel. The owner's
  listener calls the run's ``on_stop`` (which returns once the stopped answer
  is saved) and then publishes the acknowledgement. Pub/sub alone can be
  missed (a listener reconnecting at that moment), so the heartbeat's pipeline
  also reads the cancel keys of the process's runs: a missed message still
  stops the run within ``beat_s``, without an acknowledgement (the requester
  then learns the outcome from the run's final event).
- One listener connection and one heartbeat task per process, whatever the
  number of runs; ``aclose`` ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from streaming.eventlog.base import OnStop

logger = logging.getLogger(__name__)

# The owner refreshes its runs' heartbeat keys this often...
BEAT_S = 1.0
# ...and a key lapses this long after its last refresh: four missed beats. A
# process whose event loop stalls that long is dead to its users anyway; a
# crashed one is recognised this long after it died, at most.
OWNER_TTL_S = 4.0
# A listener that lost its connection tries again after this.
RELISTEN_S = 0.5


class Owners:
    """Heartbeats of this process's runs, and Stop requests between processes."""

    def __init__(
        self,
        url: str,
        commands: Redis,
        *,
        key: Callable[[str, str], str],
        channel_prefix: str,
        cancel_ttl_ms: int,
        beat_s: float = BEAT_S,
        ttl_s: float = OWNER_TTL_S,
    ) -> None:
        self._commands = commands
        self._key = key
        self._cancel_ttl_ms = cancel_ttl_ms
        self._beat_s = beat_s
        self._ttl_ms = max(1, round(ttl_s * 1000))
        # A connection of its own, without a socket timeout: it idles between messages.
        self._pubsub_client: Redis = Redis.from_url(url, decode_responses=True, protocol=2)
        self._stop_channel = f"{channel_prefix}stop"
        self._reply_channel = f"{channel_prefix}stopped:{uuid.uuid4().hex}"
        self._owned: dict[str, OnStop] = {}
        self._stopping: set[str] = set()
        self._waiting: dict[str, asyncio.Future[bool]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._beater: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def key(self, run_id: str) -> str:
        return self._key(run_id, "owner")

    async def own(self, run_id: str, on_stop: OnStop) -> None:
        """This process runs ``run_id`` from now on (call before its first event)."""
        self._owned[run_id] = on_stop
        self._start()
        async with self._commands.pipeline(transaction=True) as pipe:
            pipe.set(self.key(run_id), "1", px=self._ttl_ms)
            # A stop meant for an earlier run of the same id must not stop this one.
            pipe.delete(self._key(run_id, "cancel"))
            await pipe.execute()

    def disown(self, run_id: str) -> None:
        """The run ended here (its log's close deletes the heartbeat key)."""
        self._owned.pop(run_id, None)

    async def request_stop(self, run_id: str, seen_offset: int | None, timeout_s: float) -> bool:
        """Ask the owner, whichever process it is, to stop the run.

        True once the owner acknowledged (its stopped answer is saved); False
        when no acknowledgement came within ``timeout_s`` (no owner heard it;
        it may still stop through the cancel key).
        """
        self._start()
        ask = uuid.uuid4().hex
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[ask] = answered
        try:
            async with asyncio.timeout(timeout_s):
                # Subscribed first, or the acknowledgement could come before we listen.
                await self._listening.wait()
                value = "" if seen_offset is None else str(seen_offset)
                request = {"run": run_id, "seen": seen_offset, "reply": self._reply_channel}
                async with self._commands.pipeline(transaction=True) as pipe:
                    pipe.set(self._key(run_id, "cancel"), value, px=self._cancel_ttl_ms)
                    pipe.publish(self._stop_channel, json.dumps({**request, "ask": ask}))
                    await pipe.execute()
                return await answered
        except TimeoutError:
            return False
        finally:
            self._waiting.pop(ask, None)

    async def cancel_requested(self, run_id: str) -> tuple[bool, int | None]:
        """(whether a stop was requested, the ``seen_offset`` it carried)."""
        value = await self._commands.get(self._key(run_id, "cancel"))
        return _cancel_value(value if isinstance(value, str | None) else value.decode())

    def _start(self) -> None:
        if self._owned and (self._beater is None or self._beater.done()):
            self._beater = asyncio.create_task(self._beat(), name="spool-owner-heartbeat")
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="spool-stop-listener")

    async def _beat(self) -> None:
        """Refresh every owned run's key; pick up stops pub/sub may have missed."""
        while self._owned:  # no await between this check and the end: own() restarts it
            run_ids = list(self._owned)
            try:
                async with self._commands.pipeline(transaction=False) as pipe:
                    for run_id in run_ids:
                        pipe.set(self.key(run_id), "1", px=self._ttl_ms)
                    pipe.mget([self._key(run_id, "cancel") for run_id in run_ids])
                    replies = await pipe.execute()
            except RedisError:
                logger.exception("heartbeat of %d runs failed; trying again", len(run_ids))
            else:
                for run_id, value in zip(run_ids, replies[-1], strict=True):
                    requested, seen = _cancel_value(value)
                    if requested:
                        self._dispatch(run_id, seen, None)
            await asyncio.sleep(self._beat_s)

    async def _listen(self) -> None:
        """Hear stop requests (for runs owned here) and acknowledgements (for us)."""
        while True:
            pubsub = self._pubsub_client.pubsub()
            try:
                await pubsub.subscribe(self._stop_channel, self._reply_channel)
                async for message in pubsub.listen():
                    self._on_message(message)
            except (RedisError, OSError):
                logger.warning("stop listener lost Redis; subscribing again", exc_info=True)
            finally:
                self._listening.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RELISTEN_S)

    def _on_message(self, message: dict[str, Any]) -> None:
        channel, kind, data = message["channel"], message["type"], message["data"]
        if kind == "subscribe" and channel == self._reply_channel:
            self._listening.set()
        elif kind != "message":
            return
        elif channel == self._reply_channel:
            answered = self._waiting.get(data)
            if answered is not None and not answered.done():
                answered.set_result(True)
        elif channel == self._stop_channel:
            request = json.loads(data)
            if request["run"] in self._owned:
                self._dispatch(request["run"], request["seen"], (request["reply"], request["ask"]))

    def _dispatch(self, run_id: str, seen: int | None, reply: tuple[str, str] | None) -> None:
        on_stop = self._owned.get(run_id)
        if on_stop is None:
            return
        if run_id in self._stopping and reply is None:
            return  # already stopping; a requester waiting for an answer still gets one
        self._stopping.add(run_id)
        task = asyncio.create_task(self._stop(run_id, on_stop, seen, reply), name=f"stop-{run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop(
        self, run_id: str, on_stop: OnStop, seen: int | None, reply: tuple[str, str] | None
    ) -> None:
        try:
            await on_stop(seen)
            if reply is not None:
                channel, ask = reply
                await self._commands.publish(channel, ask)
        except RedisError:
            logger.exception("run %s: stopped, but the acknowledgement was not sent", run_id)
        finally:
            self._stopping.discard(run_id)

    async def aclose(self) -> None:
        tasks = [t for t in (self._beater, self._listener, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._beater = self._listener = None
        await self._pubsub_client.aclose()


def _cancel_value(value: str | None) -> tuple[bool, int | None]:
    if value is None:
        return False, None
    return True, int(value) if value.isdigit() else None
