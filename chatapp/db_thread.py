"""One thread of its own for a stream of short database jobs, on one kept connection.

Contract:
- ``run(job)`` (awaited) and ``post(job)`` (not awaited) queue ``job``, a sync
  function of no arguments; jobs run one at a time, in the order they were
  queued, on a single daemon thread started on first use.
- The thread keeps its Django connection (``connections[using]`` of that
  thread) from one job to the next: no connection set-up per job, whatever
  ``CONN_MAX_AGE`` says. Django never closes it for us (its per-request
  housekeeping only touches request threads), so the thread does:
  - after a job raised, ``is_usable()``; an unusable connection (or one Django
    dropped while handling the error) is closed and the job is run once more
    on a fresh one, so a connection lost while idle (a database restart, an
    idle-session timeout) costs no write. Jobs must therefore be safe to run
    twice (the run store's writes set absolute values). SQLite connections
    are always "usable": a failed job there is not retried.
  - every ``health_check_s`` seconds, before a job, the same check, so a
    connection that died quietly is replaced before it fails a write.
  - after ``idle_close_s`` without a job the connection is closed (with
    psycopg's pool, ``?pool=true``, handed back to it): a process whose
    answers are all done holds no connection, and a pool sized for requests
    lends one only while runs are writing. Closing it after every job instead
    cost as much as the per-call connections this replaces (getting a pooled
    connection back is a Django connect, ~0.3 ms).
- A job's exception reaches the awaiting caller of ``run``; a posted job must
  log its own failures (the thread only looks after the connection).
- ``aclose()`` waits for the jobs queued so far, closes the connection and
  ends the thread; a later job starts a new thread.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

# How often a kept connection is checked (one round trip). Rare enough to cost
# nothing, often enough that a dead connection seldom meets a write.
HEALTH_CHECK_S = 30.0
# A kept connection is let go after this long without a job. Runs checkpoint
# every second, so it is kept while any answer streams.
IDLE_CLOSE_S = 10.0


@dataclass(frozen=True, slots=True)
class DbThreadStats:
    """Counters since the thread object was made (summed over restarts)."""

    jobs: int
    busy_s: float  # time spent inside jobs, connection checks and reconnects included
    lost_connections: int  # found dead (after a failed job or by the periodic check)


@dataclass(slots=True)
class _Job:
    call: Callable[[], Any]
    future: Future[Any] | None  # None: posted, nobody waits


class _Stop:
    """Queued by ``aclose``: the thread ends when it reaches it."""


class DbThread:
    def __init__(
        self,
        name: str,
        *,
        using: str = DEFAULT_DB_ALIAS,
        health_check_s: float = HEALTH_CHECK_S,
        idle_close_s: float = IDLE_CLOSE_S,
    ) -> None:
        self.name = name
        self.using = using
        self._health_check_s = health_check_s
        self._idle_close_s = idle_close_s
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job | _Stop] | None = None
        self._thread: threading.Thread | None = None
        self._jobs = 0
        self._busy_s = 0.0
        self._lost_connections = 0

    def stats(self) -> DbThreadStats:
        return DbThreadStats(
            jobs=self._jobs, busy_s=self._busy_s, lost_connections=self._lost_connections
        )

    async def run[T](self, job: Callable[[], T]) -> T:
        """Run ``job`` on the thread and return its result (or raise its error)."""
        future: Future[T] = Future()
        self._put(_Job(job, future))
        return await asyncio.wrap_future(future)

    def post(self, job: Callable[[], object]) -> None:
        """Queue ``job`` and return at once (thread-safe, never blocks)."""
        self._put(_Job(job, None))

    async def aclose(self) -> None:
        """Finish the queued jobs, close the connection, end the thread."""
        with self._lock:
            q, thread = self._queue, self._thread
            self._queue = self._thread = None
        if q is None or thread is None:
            return
        q.put(_Stop())
        await asyncio.to_thread(thread.join)

    def _put(self, item: _Job) -> None:
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._serve, args=(self._queue,), name=self.name, daemon=True
                )
                self._thread.start()
            self._queue.put(item)

    def _serve(self, q: queue.SimpleQueue[_Job | _Stop]) -> None:
        connection: BaseDatabaseWrapper = connections[self.using]
        self._work(q, connection)
        self._close(connection)

    def _work(self, q: queue.SimpleQueue[_Job | _Stop], connection: BaseDatabaseWrapper) -> None:
        """Run jobs until the stop marker."""
        checked_at = time.perf_counter()
        while True:
            try:
                # Waiting for work with a connection open: only until it is idle.
                idle = self._idle_close_s if connection.connection is not None else None
                item = q.get(timeout=idle)
            except queue.Empty:
                self._close(connection)
                continue
            if isinstance(item, _Stop):
                return
            if item.future is not None and not item.future.set_running_or_notify_cancel():
                continue  # the caller was cancelled before the job started
            started = time.perf_counter()
            if started - checked_at >= self._health_check_s:
                checked_at = started
                self._drop_if_unusable(connection)
            outcome: tuple[bool, Any]
            try:
                outcome = (True, self._call(item.call, connection))
            except BaseException as exc:
                outcome = (False, exc)
            self._jobs += 1
            self._busy_s += time.perf_counter() - started
            # Last, so a caller that awaited the job sees the thread as it left it.
            if item.future is not None:
                if outcome[0]:
                    item.future.set_result(outcome[1])
                else:
                    item.future.set_exception(outcome[1])

    def _call(self, call: Callable[[], Any], connection: BaseDatabaseWrapper) -> Any:
        before = connection.connection
        try:
            return call()
        except Exception:
            if not self._lost(connection, before):
                raise
            logger.warning("%s: database connection lost, retrying on a new one", self.name)
        return call()

    def _lost(self, connection: BaseDatabaseWrapper, before: object) -> bool:
        """After a failed job: was the connection lost? If so it is closed, for a new one.

        Django may have seen to it already: the end of an ``atomic`` block drops a
        connection whose rollback failed, and then reconnects to restore
        autocommit. That replacement is closed too: with a pool it may be one
        more dead connection.
        """
        current = connection.connection
        replaced = before is not None and current is not before
        if not replaced and current is not None and connection.is_usable():
            return False
        self._lost_connections += 1
        self._close(connection)
        pool = getattr(connection, "pool", None)
        if pool is not None:
            # After a database restart every idle connection in the pool is dead
            # too, and the pool hands them out unchecked (no CONN_HEALTH_CHECKS):
            # have it test them all and replace the dead ones.
            pool.check()
        return True

    def _drop_if_unusable(self, connection: BaseDatabaseWrapper) -> None:
        """The periodic check: close an open connection that no longer works."""
        if connection.connection is not None and not connection.is_usable():
            self._lost_connections += 1
            self._close(connection)

    def _close(self, connection: BaseDatabaseWrapper) -> None:
        try:
            connection.close()
        except Exception:
            # Closing a dead connection may fail; Django forgets it either way,
            # and the thread must live on for the next job.
            logger.warning("%s: closing the connection failed", self.name, exc_info=True)
