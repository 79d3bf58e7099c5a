"""The HTML SSE stream of one assistant message (subscribes to the run's log).

Resume rules: with ``Last-Event-ID`` (the browser's own reconnect) the stream
continues after that offset; without it (new page, other tab, or htmx's
recreated EventSource after an error) it starts with a ``snapshot`` of the
current state. ``?replay=1`` (the page the first send lands on, which shows
nothing of the answer yet) replays the run from its first event instead, so
what was announced before the page connected is heard too. ``?replay=resumed``
(the page that pressed Continue, which shows the stored answer) replays from
the end of the run's first frame, the stored answer (``resumed_through``): a
Continue that fails or ends at once is heard as such too. A subscriber that
fell far behind (it stopped reading; the server waited for its socket) is
skipped ahead with a snapshot rather than replayed every frame. Either way
every stream ends with ``done``, which the page's ``sse-close`` turns into a
real close (never a 204: htmx would retry it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from chatapp import selectors
from chatapp.live import areconcile
from chatapp.models import Message
from chatapp.projection import (
    done_frame,
    project,
    reasoning_frames,
    reset_frames,
    snapshot_frame,
    stored_reasoning,
)
from chatapp.runtime import get_manager
from chatapp.stream_accounting import accounting
from chatapp.views.common import request_user
from streaming import sse
from streaming.events import Event, EventType
from streaming.runs.frames import resumed_through
from streaming.snapshot import Snapshot, fold

logger = logging.getLogger(__name__)

# A subscriber whose next batch holds more events than this is skipped ahead
# to a snapshot: ~3 s of an answer at full pace (20 frames/s, 2-4 events
# each). A browser back from a short cut still replays what it missed (its
# announcements included); one that stopped reading for longer does not
# receive every frame it missed, which under daphne's backpressure
# (streaming/backpressure.py) waited in the log, not in the server's memory.
LAG_EVENTS = 200


@require_GET
async def message_stream(request: HttpRequest, message_id: UUID) -> StreamingHttpResponse:
    after = sse.parse_last_event_id(
        request.headers.get("Last-Event-ID") or request.GET.get("after")
    )
    reconnected = after is not None
    replay = request.GET.get("replay") if after is None else None
    if replay == "1":
        after = 0  # a first connection, not a reconnect: counted as such
    # Access is checked once, when the stream opens: one thread hop for the
    # session, the user and the message together.
    message = await sync_to_async(_owned_message)(request, message_id)
    return StreamingHttpResponse(
        _counted(message, after, reconnected=reconnected, resumed=replay == "resumed"),
        content_type=sse.CONTENT_TYPE,
        headers=sse.HEADERS,
    )


async def _skip_ahead(message: Message, batch: list[Event]) -> list[bytes]:
    """A subscriber this far behind gets the answer as it is at the batch's
    end (``blocks`` + ``tail``, as a new subscriber would) instead of every
    frame it missed; an error and the final event still go out as themselves.
    The announcements in between are dropped: read out now, they would
    describe text the page shows all at once."""
    end = batch[-1].offset
    events = (await get_manager().log.read(str(message.id), 0, 0)).events
    chunks = [snapshot_frame(fold([e for e in events if e.offset <= end]))]
    for event in batch:
        if event.type in (EventType.ERROR, EventType.FINAL):
            chunks.extend(await project(event, message))
    return chunks


def _owned_message(request: HttpRequest, message_id: UUID) -> Message:
    user = request_user(request)
    if user is None:
        # Not a redirect: EventSource would follow it to an HTML page and retry forever.
        raise Http404("No such message.")
    return selectors.message_for_user(user=user, message_id=message_id)


async def _counted(
    message: Message, after: int | None, *, reconnected: bool, resumed: bool = False
) -> AsyncIterator[bytes]:
    """Count bytes and reconnects for the message's metrics, whatever ends the stream."""
    sent = 0
    try:
        async for chunk in _events(message, after, resumed=resumed):
            sent += len(chunk)
            yield chunk
    finally:
        accounting.record(message.id, bytes_sent=sent, reconnected=reconnected)


async def _events(
    message: Message, after: int | None, *, resumed: bool = False
) -> AsyncIterator[bytes]:
    """The stream's chunks: each is what the page needs at that moment, written at once.

    Every event of one log batch goes out in one chunk (one write to the
    socket, however many events a frame of the run made).
    """
    manager = get_manager()
    run_id = str(message.id)
    snapshot = await areconcile(message)
    if snapshot is None:
        await message.arefresh_from_db()
        if message.is_live:
            # Committed but its run has not written yet (another process
            # started it a moment ago): the browser retries in RETRY_MS.
            yield sse.retry() + sse.comment("starting")
            return
        # Finished and gone from the log: the database holds the whole answer.
        stored = Snapshot(message.html, "", 0, None, reasoning=stored_reasoning(message))
        yield sse.retry() + snapshot_frame(stored)
        yield await done_frame(message, None)
        return
    if after is not None and after > snapshot.offset:
        # An id this log never gave out (bogus, or from an older run): the
        # page's state is unknown, so it starts afresh like a new subscriber.
        after = None
    first = sse.retry()
    if after is None and resumed:
        events = (await manager.log.read(run_id, 0, 0)).events
        end = resumed_through(events)
        if end is not None:
            # The stored answer as the page shows it, then the rest as it came.
            first += snapshot_frame(fold([e for e in events if e.offset <= end]))
            after = end
    if after is None:
        first += snapshot_frame(snapshot)
        after = snapshot.offset
    if snapshot.final is not None and after >= snapshot.final.offset:
        # The page already has the whole answer (a reconnect just after the
        # last event): close it, never wait for events that cannot come.
        yield first + await done_frame(message, after)
        return
    yield first
    batches = manager.follow(run_id, after, heartbeat_s=settings.SPOOL_SSE_HEARTBEAT_S)
    async with aclosing(batches):
        async for batch in batches:
            if not batch:
                yield sse.comment()
                continue
            if len(batch) > LAG_EVENTS:
                chunks = await _skip_ahead(message, batch)
            else:
                chunks = [chunk for event in batch for chunk in await project(event, message)]
            after = batch[-1].offset
            if chunks:
                yield b"".join(chunks)
            if batch[-1].is_final:
                return
    # The log ended without a final event: it vanished under a live run (shared
    # log, owner crashed) or was closed early. The database has what was saved.
    await areconcile(message)
    await message.arefresh_from_db()
    yield reasoning_frames(stored_reasoning(message)) + reset_frames(message.html, "", after)
    yield await done_frame(message, after)
