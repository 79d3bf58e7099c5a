"""Joins the transcript with the live runs: what a live message shows now.

A message whose status says ``pending``/``streaming`` is either owned by a run
(its event log is open, in this process or, with Redis, any process) or left
over from a crash. Crash leftovers are marked ``interrupted`` by whoever reads
them first (a page, a stream, the live-answer limit), keeping the text of
their last checkpoint; the marking is one conditional UPDATE of live rows, so
when several readers find the same leftover, one writes and the others find
it done. How a leftover is recognised:

- A shared log (Redis) says so: the owner keeps a heartbeat per run, and a
  log that is open without one is ``ABANDONED`` (a few seconds after the
  owner died).
- With the memory log a run lives only in the process that started it. A
  process that is the only live server of its SQLite file
  (``chatapp/processes.py``: a restarted one, usually) knows that a
  ``streaming`` row with no log here is a leftover at once (a run writes its
  log before its row says ``streaming``, and the log outlives the row's live
  status). With another process on the file (``uvicorn --workers``, an
  overlapping deploy) the row may be that one's: the rule below applies.
- Otherwise a live row with no log may be a run about to start (the row is
  committed first) or another process's: it is a leftover only when its
  last checkpoint is older than ``ORPHAN_AFTER``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from chatapp import processes, selectors, services
from chatapp.models import Message
from chatapp.projection import thinking_for_s, thought_for
from chatapp.runtime import get_manager
from streaming.eventlog.base import Liveness
from streaming.snapshot import Snapshot, fold

# Between commit and run start a message is live with no log yet; only older
# orphans are treated as crash leftovers.
ORPHAN_AFTER = timedelta(seconds=5)


async def areconcile(message: Message) -> Snapshot | None:
    """Snapshot of the run if its log is there; marks crash leftovers interrupted."""
    log = get_manager().log
    run_id = str(message.id)
    state = await log.liveness(run_id)
    if state in (Liveness.OPEN, Liveness.CLOSED):
        return fold((await log.read(run_id, 0, 0)).events)
    if message.is_live and _leftover(message, state, shared=log.shared):
        await sync_to_async(services.message_mark_interrupted)(message=message)
    return None


def _leftover(message: Message, state: Liveness, *, shared: bool) -> bool:
    """Whether a live row without a live log was left by a process that died."""
    if state is Liveness.ABANDONED:
        return True
    if not shared and message.status == Message.Status.STREAMING and processes.alone():
        return True
    last_sign_of_life = message.checkpoint_at or message.created_at
    return timezone.now() - last_sign_of_life > ORPHAN_AFTER


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
            thought = snapshot.reasoning
            message.live_reasoning = thought
            message.live_thinking_s = thinking_for_s(thought)
            if thought.done:
                message.live_reasoning_label = thought_for(thought.duration_ms)
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
