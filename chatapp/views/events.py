"""The JSON stream of one assistant message, for programs (``GET /m/<id>/events``).

Text, not HTML (``chatapp/json_projection.py``): ``snapshot`` replaces the
text a client holds, ``delta`` appends to it, ``final`` ends the stream. SSE
by default; ``Accept: application/x-ndjson`` gives the same events as NDJSON.

Resume rules, as the HTML stream's (``chatapp/views/stream.py``): an id
(``Last-Event-ID`` or ``?after=``) the log gave out continues after it;
none, or one it never gave out, starts with a ``snapshot``. A stream that
ends without ``final`` (the server stopped, the connection was cut) is
resumed the same way; one that sent ``final`` ends, and a reconnect after it
gets ``final`` again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from chatapp import json_projection, selectors
from chatapp.json_projection import NDJSON, SSE, Wire
from chatapp.live import areconcile
from chatapp.models import Message
from chatapp.runtime import get_manager
from chatapp.stream_accounting import accounting
from chatapp.views.common import request_user
from streaming import sse


@require_GET
async def message_events(request: HttpRequest, message_id: UUID) -> StreamingHttpResponse:
    after = sse.parse_last_event_id(
        request.headers.get("Last-Event-ID") or request.GET.get("after")
    )
    message = await sync_to_async(_owned_message)(request, message_id)
    wire = NDJSON if "application/x-ndjson" in request.headers.get("Accept", "") else SSE
    return StreamingHttpResponse(
        _counted(message, after, wire),
        content_type=wire.content_type,
        headers={**sse.HEADERS, "Vary": "Accept"},
    )


def _owned_message(request: HttpRequest, message_id: UUID) -> Message:
    user = request_user(request)
    if user is None:
        # Not a redirect to the login page: a program wants a status, not HTML.
        raise Http404("No such message.")
    return selectors.message_for_user(user=user, message_id=message_id)


async def _counted(message: Message, after: int | None, wire: Wire) -> AsyncIterator[bytes]:
    """Count bytes and reconnects for the message's metrics, whatever ends the stream."""
    sent = 0
    try:
        async for chunk in _events(message, after, wire):
            sent += len(chunk)
            yield chunk
    finally:
        accounting.record(message.id, bytes_sent=sent, reconnected=after is not None)


async def _events(message: Message, after: int | None, wire: Wire) -> AsyncIterator[bytes]:
    """The stream's chunks; every event of one log batch goes out in one chunk."""
    # A continued answer runs again under its id: when it was continued tells its runs apart.
    run = (message.id, message.continued_at)
    snapshot = await areconcile(message)
    if snapshot is None:
        await message.arefresh_from_db()
        if message.is_live:
            # Committed, but its run has not written yet (another process
            # started it a moment ago): ends without final, so the client
            # comes back (an EventSource after RETRY_MS).
            yield wire.opening + (sse.comment("starting") if wire is SSE else b"")
            return
        # Finished and gone from the log: the database holds the whole answer.
        # Id 0: a resume after it gets the same again.
        yield wire.opening + json_projection.from_message(message, 0, wire)
        return
    if after is not None and after > snapshot.offset:
        # An id this log never gave out: the client's text is unknown, start afresh.
        after = None
    first = wire.opening
    if after is None:
        first += json_projection.snapshot(
            snapshot.text,
            snapshot.offset,
            wire,
            snapshot.tool_calls,
            reasoning=snapshot.reasoning.text,
        )
        after = snapshot.offset
    final = snapshot.final
    if final is not None and after >= final.offset:
        # Already at the end: say final again (with its own id) and close,
        # never wait for events that cannot come.
        yield first + json_projection.project(final, run, wire)
        return
    if first:
        yield first
    batches = get_manager().follow(
        str(message.id), after, heartbeat_s=settings.SPOOL_SSE_HEARTBEAT_S
    )
    async with aclosing(batches):
        async for batch in batches:
            if not batch:
                yield wire.heartbeat
                continue
            chunk = b"".join(json_projection.project(e, run, wire) for e in batch)
            after = batch[-1].offset
            if chunk:
                yield chunk
            if batch[-1].is_final:
                return
    # The log ended without final: it vanished under a live run (shared log,
    # owner crashed) or closed early. The database has what was saved.
    await areconcile(message)
    await message.arefresh_from_db()
    if message.is_live:
        # Not yet recognised as a crash leftover: no final to give; the
        # client comes back and gets it once the row is marked.
        return
    yield json_projection.from_message(message, after, wire)
