"""Joins the transcript with the live runs: what a live message shows now.

A message whose status says ``pending``/``streaming`` is either owned by a run
(its event log exists, in this process or, with Redis, any process) or left
over from a crash. Crash leftovers are marked ``interrupted`` lazily, on read,
so recovery needs no startup hook and works with many processes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from chatapp import selectors, services
from chatapp.models import Message
from chatapp.runtime import get_manager
from streaming.snapshot import Snapshot, fold

# Between commit and run start a message is live with no log yet; only older
# orphans are treated as crash leftovers.
ORPHAN_AFTER = timedelta(seconds=5)


async def alive_snapshot(message: Message) -> Snapshot | None:
    """The live state of a message's run, or None when no run owns it."""
    log = get_manager().log
    run_id = str(message.id)
    if not await log.exists(run_id):
        return None
    return fold((await log.read(run_id, 0, 0)).events)


async def areconcile(message: Message) -> Snapshot | None:
    """Snapshot of the run if it is alive; marks crash leftovers interrupted."""
    snapshot = await alive_snapshot(message)
    last_sign_of_life = message.checkpoint_at or message.created_at
    if snapshot is None and message.is_live and timezone.now() - last_sign_of_life > ORPHAN_AFTER:
        await sync_to_async(services.message_mark_interrupted)(message=message)
    return snapshot


async def aprepare_messages(messages: list[Message]) -> Message | None:
    """Attach live HTML to live messages; returns the live answer, if any."""
    live: Message | None = None
    for message in messages:
        if not message.is_live:
            continue
        snapshot = await areconcile(message)
        if snapshot is not None and snapshot.final is None:
            message.live_blocks = snapshot.blocks_html
            message.live_tail = snapshot.tail_html
        if snapshot is not None and snapshot.final is not None:
            await message.arefresh_from_db()
        if message.is_live:
            live = message
    return live


async def areconcile_user(user: User) -> bool:
    """Mark the user's crash leftovers interrupted; True if there were any."""
    live = await sync_to_async(selectors.live_messages)(user=user)
    marked = False
    for message in live:
        await areconcile(message)
        marked |= not message.is_live
    return marked


async def asend(send: Callable[[], Awaitable[services.Sent]], user: User) -> services.Sent:
    """``send()``, once more if only crash leftovers stood in its way.

    The live-answer limits count live rows; a row left ``streaming`` by a
    crash is marked lazily, when read, so it could refuse a send for nothing.
    Marking costs a query per live row, so it runs only when a send was
    refused for live answers (``services.BusyError``), never on the usual path.
    """
    try:
        return await send()
    except services.BusyError:
        if not await areconcile_user(user):
            raise
    return await send()
