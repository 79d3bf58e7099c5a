"""The run manager: owns every run task of this process.

Contract:
- ``start`` creates the run's task and returns at once; the task belongs to the
  manager (kept in ``_runs`` until it ends, never fire-and-forget).
- ``opened`` waits until a started run's log holds its first event (at most
  one turn of the event loop): after it, a subscriber finds the run.
- ``stop`` cancels a run owned by this process; the run saves its partial
  answer as ``stopped`` (clamped to the event the user's page had applied).
- Subscribers ``follow`` a run (or count themselves with ``subscriber``).
  When the last one leaves, the run goes on for ``detach_grace`` seconds (a
  reload or a network blip re-attaches), then is cancelled and saved
  ``interrupted``. ``None`` lets runs always finish.
- With a shared log (Redis) any process can serve a run's subscribers and its
  Stop: the manager ``own``s each run in the log before its first event (a
  heartbeat other processes check: a run whose owner died is seen as
  abandoned within seconds), a Stop sent to another process reaches the owner
  through the log (``request_stop``) and returns once the owner acknowledged
  it, and subscribers elsewhere keep a "watched" mark fresh so the owner does
  not think the run abandoned.
- ``shutdown`` (process stop) refuses new runs at once (``start`` raises
  ``ShuttingDown``), lets live runs finish for up to its grace whether or not
  anyone watches, then cancels the rest (saved ``interrupted``) and waits for
  every save before closing the store and the log.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from streaming.eventlog.base import EventLog, Liveness
from streaming.events import Event
from streaming.follow import follow
from streaming.providers.base import Provider
from streaming.runs.run import Run
from streaming.runs.spec import Budgets, CancelReason, RunSpec
from streaming.runs.store import RunStore

logger = logging.getLogger(__name__)

# A Stop for another process's run waits this long for the owner's
# acknowledgement (normally milliseconds) or the run's final event.
REMOTE_STOP_WAIT_S = 10.0
# A subscriber of a silent run on a shared log asks this often whether the
# run's owner still lives: a crashed owner's subscribers end within the
# heartbeat's lapse plus this, rather than when its stream expires.
LIVENESS_CHECK_S = 1.0
# Subscribers refresh their "watched" mark this often; it lapses after the TTL
# (three missed refreshes), so a dead subscriber stops counting quickly.
WATCH_REFRESH_S = 5.0
WATCH_TTL_S = 15.0


class ShuttingDown(RuntimeError):
    """The process is stopping: it starts no new run."""


@dataclass
class _Entry:
    run: Run
    task: asyncio.Task[None]
    subscribers: int = 0
    grace: asyncio.TimerHandle | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    helpers: set[asyncio.Task[None]] = field(default_factory=set)


class RunManager:
    def __init__(
        self,
        *,
        log: EventLog,
        store: RunStore,
        budgets: Budgets,
        detach_grace: float | None,
    ) -> None:
        self.log = log
        self._store = store
        self._budgets = budgets
        self._grace = detach_grace
        self._runs: dict[str, _Entry] = {}
        self.closing = False

    def start(self, spec: RunSpec, provider: Provider) -> None:
        if self.closing:
            raise ShuttingDown(f"run {spec.run_id} refused: the process is shutting down")
        if spec.run_id in self._runs:
            raise ValueError(f"run {spec.run_id} is already running")
        run = Run(spec, provider, log=self.log, store=self._store, budgets=self._budgets)
        # A fresh context: the run must not inherit the request's
        # thread-sensitive executor, which is torn down when the request ends.
        task = asyncio.create_task(
            self._execute(run), name=f"run-{spec.run_id}", context=contextvars.Context()
        )
        entry = _Entry(run=run, task=task)
        self._runs[spec.run_id] = entry
        task.add_done_callback(self._finished(spec.run_id, entry))
        # Nobody is watching yet: if no page connects within the grace period
        # (the tab was closed right after sending), the run is wound up.
        self._arm_grace(spec.run_id, entry)

    @staticmethod
    def _own(entry: _Entry, coro: Coroutine[Any, Any, None], what: str) -> None:
        """A helper task that lives and dies with its run (cancelled when it ends)."""
        task = asyncio.create_task(coro, name=f"{what}-{entry.run.spec.run_id}")
        entry.helpers.add(task)
        task.add_done_callback(entry.helpers.discard)

    async def _execute(self, run: Run) -> None:
        """The run's task: owned in the log first, so no process ever sees its
        events without a live owner, then the run itself."""
        run_id = run.spec.run_id
        try:
            await self.log.own(run_id, functools.partial(self._stop_owned, run_id))
        except asyncio.CancelledError:
            # Stopped before it began: cancelled again, the run's first await
            # raises inside it, and it saves its (empty) answer as any stop does.
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
            task.cancel()
        except Exception:
            logger.exception("run %s: ownership not recorded in the log", run_id)
        await run.execute()

    async def _stop_owned(self, run_id: str, seen_offset: int | None) -> None:
        """A Stop from another process for a run of ours: as a local one."""
        entry = self._runs.get(run_id)
        if entry is not None:
            self._cancel(entry, "stop", seen_offset)
            await entry.done.wait()

    def _finished(self, run_id: str, entry: _Entry) -> Callable[[asyncio.Task[None]], None]:
        def callback(task: asyncio.Task[None]) -> None:
            if entry.grace is not None:
                entry.grace.cancel()
            for helper in list(entry.helpers):
                helper.cancel()
            if self._runs.get(run_id) is entry:
                del self._runs[run_id]
                self.log.disown(run_id)
            entry.done.set()
            if not task.cancelled() and task.exception() is not None:
                logger.error("run %s ended with %r", run_id, task.exception())

        return callback

    async def stop(self, run_id: str, *, seen_offset: int | None = None) -> bool:
        """Stop a run and wait until its partial answer is saved.

        Returns False when no process runs it (already finished, or unknown).
        """
        entry = self._runs.get(run_id)
        if entry is not None:
            self._cancel(entry, "stop", seen_offset)
            await entry.done.wait()
            return True
        if not self.log.shared or await self.log.liveness(run_id) is not Liveness.OPEN:
            return False
        # The owner's acknowledgement normally answers; the run's final event
        # answers when the run ended on its own meanwhile (no owner to ack).
        asked = asyncio.ensure_future(
            self.log.request_stop(run_id, seen_offset, REMOTE_STOP_WAIT_S)
        )
        ended = asyncio.ensure_future(self._wait_final(run_id))
        try:
            done, _ = await asyncio.wait({asked, ended}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                return ended.result()
            if not asked.result():
                logger.warning("run %s: no answer %.0f s after Stop", run_id, REMOTE_STOP_WAIT_S)
            return asked.result()
        finally:
            for waiter in (asked, ended):
                waiter.cancel()

    async def _wait_final(self, run_id: str) -> bool:
        """Follow the log until the run's final event (True), or until it ends
        without one (closed early, gone, or its owner died: False)."""
        batches = follow(
            self.log, run_id, 0, heartbeat_s=REMOTE_STOP_WAIT_S, liveness_s=LIVENESS_CHECK_S
        )
        async with aclosing(batches):
            async for batch in batches:
                if batch and batch[-1].is_final:
                    return True
        return False

    async def opened(self, run_id: str) -> None:
        """Wait until the run's log holds its first event, or the run has ended.

        A run writes its first event in the first step of its task, so this
        is at most one turn of the event loop (one round trip to Redis).
        """
        entry = self._runs.get(run_id)
        if entry is None or entry.run.opened.is_set():
            return
        waits = [
            asyncio.ensure_future(entry.run.opened.wait()),
            asyncio.ensure_future(entry.done.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def wait(self, run_id: str) -> None:
        entry = self._runs.get(run_id)
        if entry is not None:
            await entry.done.wait()

    async def follow(
        self, run_id: str, after: int, *, heartbeat_s: float
    ) -> AsyncGenerator[list[Event]]:
        """A subscriber: the run's events after ``after`` in batches, ``[]`` when a
        heartbeat is due (``streaming.follow.follow``), counted as watching the
        run for the detach policy until the iteration ends."""
        async with self.subscriber(run_id):
            liveness_s = LIVENESS_CHECK_S if self.log.shared else None
            batches = follow(
                self.log, run_id, after, heartbeat_s=heartbeat_s, liveness_s=liveness_s
            )
            async with aclosing(batches):
                async for batch in batches:
                    yield batch

    @asynccontextmanager
    async def subscriber(self, run_id: str) -> AsyncIterator[None]:
        """Count a subscriber for the detach policy while the block runs."""
        entry = self._runs.get(run_id)
        if entry is not None:
            entry.subscribers += 1
            if entry.grace is not None:
                entry.grace.cancel()
                entry.grace = None
        marker = None
        if self.log.shared:
            marker = asyncio.create_task(self._keep_watched(run_id), name=f"watched-{run_id}")
        try:
            yield
        finally:
            if marker is not None:
                marker.cancel()
            if entry is not None:
                entry.subscribers -= 1
                if entry.subscribers == 0 and self._runs.get(run_id) is entry:
                    self._arm_grace(run_id, entry)

    async def _keep_watched(self, run_id: str) -> None:
        while True:
            await self.log.mark_watched(run_id, WATCH_TTL_S)
            await asyncio.sleep(WATCH_REFRESH_S)

    def _arm_grace(self, run_id: str, entry: _Entry) -> None:
        # While shutting down, runs get the shutdown grace whoever watches:
        # the server drops every subscriber's connection as it stops.
        if self._grace is None or self.closing:
            return
        loop = asyncio.get_running_loop()
        entry.grace = loop.call_later(self._grace, self._detach_expired, run_id, entry)

    def _detach_expired(self, run_id: str, entry: _Entry) -> None:
        entry.grace = None
        if entry.subscribers > 0:
            return
        if self.log.shared:
            # Subscribers may be on other processes: ask the log before giving up.
            self._own(entry, self._detach_if_unwatched(run_id, entry), "detach-check")
        elif self._cancel(entry, "detach"):
            logger.info("run %s: no subscriber for the grace period, interrupted", run_id)

    async def _detach_if_unwatched(self, run_id: str, entry: _Entry) -> None:
        if await self.log.watched(run_id):
            self._arm_grace(run_id, entry)
        elif entry.subscribers == 0 and self._cancel(entry, "detach"):
            logger.info("run %s: nobody watched for the grace period, interrupted", run_id)

    @staticmethod
    def _cancel(entry: _Entry, reason: CancelReason, seen_offset: int | None = None) -> bool:
        """Cancel once; never while the run is already saving its final state."""
        run = entry.run
        if run.cancel_reason is not None or run.finalizing:
            return False
        run.cancel_reason = reason
        run.seen_offset = seen_offset
        entry.task.cancel()
        return True

    async def shutdown(self, grace_s: float = 0.0) -> None:
        """Stop the process's runs, then close the store and the log.

        New runs are refused from the first line on. Live runs may finish for
        up to ``grace_s`` seconds; the rest are cancelled and saved
        ``interrupted`` with their text, and this returns once every save is
        done (no run is left ``streaming``).
        """
        self.closing = True
        for entry in self._runs.values():
            if entry.grace is not None:
                entry.grace.cancel()
                entry.grace = None
        live = [asyncio.ensure_future(e.done.wait()) for e in self._runs.values()]
        try:
            if live and grace_s > 0:
                await asyncio.wait(live, timeout=grace_s)
            for entry in list(self._runs.values()):
                if self._cancel(entry, "shutdown"):
                    logger.info("run %s: interrupted by shutdown", entry.run.spec.run_id)
            if live:
                await asyncio.wait(live)
        finally:
            for waiter in live:
                waiter.cancel()
            try:
                await self._store.aclose()
            finally:
                await self.log.aclose()
