"""Following one run's event log: the subscriber's loop, with its end guaranteed.

``follow`` yields the run's events after an offset, in order, in the batches
the log returned them (a subscriber then writes one batch as one chunk), and
an empty batch each time a heartbeat is due. It ends after the ``final`` event, or as soon as
the log says nothing more can come (closed without a final event, or gone),
so a reader at or past the end of a finished run leaves at once. Every round
of the loop either yields events or has awaited the log's own wait (the event
log contract, ``streaming/eventlog/base.py``): it never spins, which under
ASGI would stall every other request of the process.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from streaming.eventlog.base import EventLog, Liveness
from streaming.events import Event


async def follow(
    log: EventLog,
    run_id: str,
    after: int,
    *,
    heartbeat_s: float,
    liveness_s: float | None = None,
) -> AsyncGenerator[list[Event]]:
    """Batches of events with offset > ``after`` up to the final one; ``[]`` = heartbeat due.

    When it ends without having yielded a final event, the log holds no more
    of the run (it closed early, expired, or its owner died: ``Liveness``):
    the caller rebuilds what the page should show from the database. While
    the run is silent the loop asks the log about the run every
    ``liveness_s`` (default: every heartbeat), so a shared log's dead owner
    is noticed within that.
    """
    wait_s = heartbeat_s if liveness_s is None else min(liveness_s, heartbeat_s)
    quiet_s = 0.0  # waited with nothing new since the last thing yielded
    while True:
        batch = await log.read(run_id, after, wait_s)
        for index, event in enumerate(batch.events):
            if event.is_final:
                yield batch.events[: index + 1]
                return
        if batch.events:
            quiet_s = 0.0
            yield batch.events
            after = batch.events[-1].offset
        if batch.closed:
            return
        if not batch.events:
            # The wait ran its course with nothing new: alive, or gone?
            state = await log.liveness(run_id)
            if state in (Liveness.ABSENT, Liveness.ABANDONED):
                return
            # CLOSED: closed since the read; the next read returns the rest at once.
            quiet_s += wait_s
            if quiet_s >= heartbeat_s and state is Liveness.OPEN:
                quiet_s = 0.0
                yield []
