"""The event log contract shared by every backend.

A run appends events; any number of subscribers, in any process, read them by
offset. Contract:

- ``append`` assigns consecutive offsets starting at 1 and returns the offset.
- ``read(run_id, after, wait_s)`` returns a ``Batch``: the events with
  offset > ``after``, in order, and whether the log is ``closed``. While the
  run is open and nothing is newer it *waits* up to ``wait_s`` seconds (an
  empty batch then means "nothing yet"). A closed run never waits: an empty
  batch with ``closed`` set means "nothing more, ever", so a reader at or past
  the end stops instead of asking again. It never drops or reorders events.
- ``close`` marks the run ended (the run appends ``final`` before it); the log
  keeps the run for a retention period so late subscribers still resume.
- A log may keep less than every event, never less than a reader needs: a
  live run's older events folded into one ``replace`` that carries blocks and
  tail apart (``streaming.snapshot.compact_prefix``), and a run that closed
  with ``final`` as one ``replace`` of the whole answer at the offset of its
  last content event, then the events after it as written
  (``streaming.snapshot.compact``). Offsets never change, so a reader that
  applied the events up to any offset and reads the rest ends with the page
  the whole log would give (and ``final``, once written). The memory log
  compacts events ``COMPACT_AFTER_S`` old; Redis keeps every event (in
  Redis's memory, bounded by its MAXLEN and expiry).
- ``exists`` is false for runs the log never saw or has already expired.
- ``discard`` forgets a run whose log is closed (its events, stop request and
  watch mark): a new run of the same id then starts again at offset 1. Continue
  does this, since it streams into the same message (run id) again.

- ``liveness`` tells a reader whether anything more can come: the log is
  ``ABSENT`` (never seen, or expired), ``CLOSED``, ``OPEN`` (its owner is
  writing it), or ``ABANDONED``: open, but the process that owned the run
  died without closing it (only a shared log can say so; a memory log dies
  with its process).

A ``shared`` log (Redis) is seen by every server process, so it also carries
what processes must tell each other about a run they do not own: ownership
(``own``/``disown``: the owner's heartbeat, which is what ``ABANDONED``
misses), a stop request (``request_stop``, answered by the owner's
``on_stop`` and acknowledged once it returned) and "somebody is watching"
marks that keep the owner from treating the run as abandoned. A log that is
not shared does nothing for ``own`` and has no other process to ask.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from streaming.events import Event, EventType


@dataclass(frozen=True, slots=True)
class Batch:
    """What one ``read`` returned.

    ``closed``: no event after these will ever be appended (the run closed its
    log, or the log does not know the run). A reader that gets an empty,
    closed batch must stop: asking again returns the same at once.
    """

    events: list[Event]
    closed: bool


class Liveness(Enum):
    ABSENT = 0  # never seen, or expired
    OPEN = 1  # its owner writes it
    CLOSED = 2  # ended: its events are all there is
    ABANDONED = 3  # open, but its owner died: nothing will ever be appended


# The owner's side of a Stop: cancel the run and return once its answer is
# saved (``seen_offset``: the last event the user's page applied).
OnStop = Callable[[int | None], Awaitable[None]]


class EventLog(Protocol):
    shared: bool

    async def append(self, run_id: str, type: EventType, data: dict[str, Any]) -> int: ...

    async def read(self, run_id: str, after: int, wait_s: float) -> Batch: ...

    async def close(self, run_id: str) -> None: ...

    async def exists(self, run_id: str) -> bool: ...

    async def discard(self, run_id: str) -> None: ...

    async def liveness(self, run_id: str) -> Liveness: ...

    async def own(self, run_id: str, on_stop: OnStop) -> None: ...

    def disown(self, run_id: str) -> None: ...

    async def request_stop(
        self, run_id: str, seen_offset: int | None, timeout_s: float
    ) -> bool: ...

    async def mark_watched(self, run_id: str, ttl_s: float) -> None: ...

    async def watched(self, run_id: str) -> bool: ...

    async def aclose(self) -> None: ...
