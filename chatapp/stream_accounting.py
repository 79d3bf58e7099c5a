"""Bytes sent and reconnects per answer, added up in memory and written in batches.

Every stream adds what it sent to its message's ``bytes_sent`` (and one to
``reconnects`` when it resumed with an id). Writing that when each stream ends
cost a database write per connection, on the connection's own thread, at the
moment many streams end together. Here ``record`` only adds to a dict (no
I/O, safe on the event loop) and one background task writes everything
recorded in the last ``FLUSH_S`` seconds in one transaction.

Contract: figures reach the database within about ``FLUSH_S`` seconds; a
process that dies loses at most that window of accounting, never an answer.
A process that stops cleanly writes everything (``aclose``, called by
``chatapp.shutdown``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import F

from chatapp.models import Message

logger = logging.getLogger(__name__)

# Metrics for admins, not for the page: a few seconds late costs nothing.
FLUSH_S = 2.0


@dataclass(slots=True)
class _Counts:
    bytes_sent: int = 0
    reconnects: int = 0


class StreamAccounting:
    def __init__(self, flush_s: float = FLUSH_S) -> None:
        self._flush_s = flush_s
        self._pending: dict[UUID, _Counts] = {}
        self._flusher: asyncio.Task[None] | None = None

    def record(self, message_id: UUID, *, bytes_sent: int, reconnected: bool) -> None:
        counts = self._pending.setdefault(message_id, _Counts())
        counts.bytes_sent += bytes_sent
        counts.reconnects += int(reconnected)
        if self._flusher is None or self._flusher.done():
            # A fresh context: the flush outlives the request that recorded it.
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_later(), name="stream-accounting", context=contextvars.Context()
            )

    async def _flush_later(self) -> None:
        # A record made while this task writes sees it still running and starts
        # no flusher of its own: this task writes it, one period later.
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()
            if not self._pending:
                return  # no await since the check: a later record starts a new task

    async def flush(self) -> None:
        """Write everything recorded so far (the background flush; tests call it directly)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await sync_to_async(_write)(pending)
        except Exception:
            # Metrics only: never let them take a stream or a run down.
            logger.exception("stream accounting: %d answers not written", len(pending))

    async def aclose(self) -> None:
        """Write everything recorded and end the background flush (process shutdown)."""
        if self._flusher is not None and not self._flusher.done():
            # A write already under way goes on in its thread (cancelling the
            # await does not stop it) and the interpreter joins that thread
            # before it exits: nothing taken for writing is dropped.
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        self._flusher = None
        await self.flush()


def _write(pending: dict[UUID, _Counts]) -> None:
    with transaction.atomic():
        # In id order: two processes flushing the same answers lock the rows
        # in the same order, so they queue instead of deadlocking.
        for message_id, counts in sorted(pending.items()):
            Message.objects.filter(id=message_id).update(
                bytes_sent=F("bytes_sent") + counts.bytes_sent,
                reconnects=F("reconnects") + counts.reconnects,
            )


accounting = StreamAccounting()
