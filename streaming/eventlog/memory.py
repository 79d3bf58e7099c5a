"""In-process event log: the embedded default for a single server process."""

from __future__ import annotations

import asyncio
import time
from asyncio import TimerHandle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streaming.eventlog.base import Batch, Liveness, OnStop
from streaming.events import Event, EventType
from streaming.snapshot import compact, compact_prefix

# Ended runs stay readable this long so a reload or a late tab can still resume.
RETENTION_S = 300.0
# A run's events are kept as written for at least this long, then only what a
# late reader needs (see MemoryEventLog). Long enough for a page cut off to
# come back (the browser retries after 1 s) and replay what it missed exactly,
# with its announcements; short enough that long answers and finished runs
# cost little.
COMPACT_AFTER_S = 10.0


@dataclass(slots=True)
class _RunLog:
    events: list[Event] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    closed_at: float | None = None
    first: int = 1  # offset of events[0]: past 1 once the log is compacted
    old: int = 0  # events up to this offset are COMPACT_AFTER_S old at the next trim
    trim: asyncio.TimerHandle | None = None

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1


class MemoryEventLog:
    """Events per run in a list; waiters park on an ``asyncio.Event``.

    All access happens on the server's one event loop, so no locks are needed:
    ``append`` is synchronous between awaits. Not shared: every run is local,
    so stop requests and watch marks never need to cross a process.

    Memory stays flat whatever the answers' length: every ``COMPACT_AFTER_S``
    a live run's events older than that are folded into one ``replace``
    (``streaming.snapshot.compact_prefix``), and ``COMPACT_AFTER_S`` after a
    run closed with its ``final`` event its log is compacted for the rest of
    the retention period (``streaming.snapshot.compact``: one ``replace`` of
    the whole answer, then the events after the last content event). This
    process holds every run that ended in the last ``RETENTION_S``: in steady
    state far more of them than live ones.
    """

    shared = False

    def __init__(
        self, retention: float = RETENTION_S, compact_after: float = COMPACT_AFTER_S
    ) -> None:
        self._runs: dict[str, _RunLog] = {}
        self._retention = retention
        self._compact_after = compact_after

    async def append(self, run_id: str, type: EventType, data: dict[str, Any]) -> int:
        log = self._runs.get(run_id)
        if log is None:
            self._expire()
            log = self._runs[run_id] = _RunLog()
            log.trim = self._arm(self._trim, run_id, log)
        offset = log.last + 1
        log.events.append(Event(offset, type, data))
        # Wake every waiter, then arm a fresh event for the next round.
        log.changed.set()
        log.changed = asyncio.Event()
        return offset

    async def read(self, run_id: str, after: int, wait_s: float) -> Batch:
        log = self._runs.get(run_id)
        if log is None:
            # Never seen or expired: nothing will ever come (a run's log is
            # created by its first append, in this process).
            return Batch([], closed=True)
        if log.last <= after and log.closed_at is None:
            waiter = log.changed
            try:
                await asyncio.wait_for(waiter.wait(), wait_s)
            except TimeoutError:
                return Batch([], closed=False)
        start = max(after - log.first + 1, 0)
        return Batch(log.events[start:], closed=log.closed_at is not None)

    async def close(self, run_id: str) -> None:
        log = self._runs.get(run_id)
        if log is None:
            return
        if log.trim is not None:
            log.trim.cancel()
            log.trim = None
        if log.closed_at is None and log.events and log.events[-1].is_final:
            self._arm(self._compact, run_id, log)
        log.closed_at = time.monotonic()
        log.changed.set()

    def _arm(self, step: Callable[[str, _RunLog], None], run_id: str, log: _RunLog) -> TimerHandle:
        return asyncio.get_running_loop().call_later(self._compact_after, step, run_id, log)

    def _trim(self, run_id: str, log: _RunLog) -> None:
        """Fold a live run's events of one period ago; again every period until it closes."""
        if self._runs.get(run_id) is not log or log.closed_at is not None:
            return
        # Never the newest event: it may be ``final``, which a reader must read as written.
        count = min(log.old - log.first + 1, len(log.events) - 1)
        if count >= 2:
            log.events = compact_prefix(log.events, count)
            log.first = log.events[0].offset
        log.old = log.last
        log.trim = self._arm(self._trim, run_id, log)

    def _compact(self, run_id: str, log: _RunLog) -> None:
        if self._runs.get(run_id) is log:
            log.events = compact(log.events)
            log.first = log.events[0].offset

    async def exists(self, run_id: str) -> bool:
        self._expire()
        return run_id in self._runs

    async def discard(self, run_id: str) -> None:
        log = self._runs.pop(run_id, None)
        if log is not None and log.trim is not None:
            log.trim.cancel()

    async def liveness(self, run_id: str) -> Liveness:
        """Never ``ABANDONED``: a run's log lives and dies with the process that owns it."""
        self._expire()
        log = self._runs.get(run_id)
        if log is None:
            return Liveness.ABSENT
        return Liveness.OPEN if log.closed_at is None else Liveness.CLOSED

    async def own(self, run_id: str, on_stop: OnStop) -> None:
        """Nothing to do: every run of this log is this process's, stopped by its manager."""

    def disown(self, run_id: str) -> None:
        """Nothing to do (see ``own``)."""

    async def request_stop(self, run_id: str, seen_offset: int | None, timeout_s: float) -> bool:
        """No other process to ask: the run manager stops its own runs."""
        return False

    async def mark_watched(self, run_id: str, ttl_s: float) -> None:
        """Nothing to do: the run manager counts its own subscribers."""

    async def watched(self, run_id: str) -> bool:
        return False

    async def aclose(self) -> None:
        self._runs.clear()

    def _expire(self) -> None:
        now = time.monotonic()
        for run_id in [
            r
            for r, log in self._runs.items()
            if log.closed_at is not None and now - log.closed_at > self._retention
        ]:
            del self._runs[run_id]
