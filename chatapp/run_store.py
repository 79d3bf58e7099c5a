"""The database side of a run (implements ``streaming.runs.RunStore``).

Every run of the process writes through one thread of the store's own,
``spool-run-store`` (``chatapp/db_thread.py``), which keeps one connection
from write to write while answers stream. Before, each write was a
``sync_to_async`` call: runs start in a fresh context (``RunManager.start``),
so asgiref ran all of them on one thread shared with any other such call,
each opening and closing a connection (``CONN_MAX_AGE=0``), and every run
waited for its checkpoint's turn (docs/performance.md, Run store).

Contract:
- ``started`` and ``finished`` are awaited: they return once written (or raise).
- ``checkpoint`` only records the latest content of the run and returns: it
  never waits for the database. The store thread writes every recorded
  checkpoint in one transaction whenever it is free, so one answer is
  written at once, and under load many coalesce into one transaction.
- ``finished(run_id)`` drops the run's checkpoint not yet written, and runs on
  the store thread after any batch already taken: a checkpoint never overwrites
  the final content or status. The checkpoint UPDATE also matches only live
  rows, a second guard.
- A checkpoint batch that fails on a database error is logged and its
  checkpoints go back into the next batch (newer content wins); the run never
  sees the error.
- ``aclose`` writes what is recorded and stops the thread (process shutdown;
  a later call starts a new one).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from chatapp.db_thread import HEALTH_CHECK_S, IDLE_CLOSE_S, DbThread
from chatapp.models import Message
from chatapp.titles import title_save
from streaming.providers.errors import MAX_SHOWN_RETRY_AFTER_S
from streaming.runs.store import RunError, RunOutcome, ToolRecord

logger = logging.getLogger(__name__)

STORE_THREAD_NAME = "spool-run-store"

_PK = Message._meta.pk
_CHECKPOINT_AT = Message._meta.get_field("checkpoint_at")
_LIVE = sorted(str(status) for status in Message.LIVE_STATUSES)  # plain str, not the enum
_CHECKPOINT_SQL: dict[str, str] = {}  # by database vendor
_TOOL_CALLS = Message._meta.get_field("tool_calls")
# What a checkpoint writes: the answer so far, the thinking so far, and the
# tool calls so far with their chips (``ToolRecord.as_dict``).
Checkpoint = tuple[str, str, list[dict[str, Any]]]
# Left as stored by a run that did not think.
_REASONING_METRICS = ("reasoning_ms", "reasoning_tokens", "reasoning_tokens_estimated")


@dataclass(frozen=True, slots=True)
class RunStoreStats:
    jobs: int  # writes and batches done by the store thread
    busy_s: float  # time the store thread spent in them
    lost_connections: int  # store connections found dead and replaced
    batches: int  # checkpoint transactions committed
    checkpoints_written: int  # rows they updated (coalesced ones count once, finished ones not)


class DjangoRunStore:
    def __init__(
        self,
        *,
        using: str = DEFAULT_DB_ALIAS,
        health_check_s: float = HEALTH_CHECK_S,
        idle_close_s: float = IDLE_CLOSE_S,
    ) -> None:
        self.using = using
        # Public for tests: they queue their own jobs behind the store's.
        self.thread = DbThread(
            STORE_THREAD_NAME,
            using=using,
            health_check_s=health_check_s,
            idle_close_s=idle_close_s,
        )
        # Touched by the event loop (checkpoint) and the store thread (batches).
        self._lock = threading.Lock()
        self._pending: dict[uuid.UUID, Checkpoint] = {}
        self._batch_queued = False
        self._batches = 0
        self._written = 0

    async def started(self, run_id: str) -> None:
        await self.thread.run(partial(_started, self.using, uuid.UUID(run_id)))

    async def checkpoint(
        self,
        run_id: str,
        *,
        content: str,
        reasoning: str = "",
        tool_calls: tuple[ToolRecord, ...] = (),
    ) -> None:
        key = uuid.UUID(run_id)  # a bad id fails its run here, not every later batch
        calls = [call.as_dict() for call in tool_calls]
        with self._lock:
            self._pending[key] = (content, reasoning, calls)
            if self._batch_queued:
                return  # the queued batch will take it
            self._batch_queued = True
        self.thread.post(self._write_batch)

    async def finished(self, run_id: str, outcome: RunOutcome) -> bool:
        key = uuid.UUID(run_id)
        self._drop_pending(key)
        return await self.thread.run(partial(self._finish, key, outcome))

    async def flush(self) -> None:
        """Write the checkpoints recorded so far; raises if that write fails."""
        await self.thread.run(self._write_batch)

    async def aclose(self) -> None:
        try:
            if self._pending:  # a batch already queued is waited for below
                await self.flush()
        except DatabaseError:
            pass  # logged by the batch; the last checkpoints are lost as in a crash
        finally:
            await self.thread.aclose()

    def stats(self) -> RunStoreStats:
        t = self.thread.stats()
        return RunStoreStats(t.jobs, t.busy_s, t.lost_connections, self._batches, self._written)

    def _drop_pending(self, key: uuid.UUID) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def _finish(self, key: uuid.UUID, outcome: RunOutcome) -> bool:
        # Again on the store thread: a failed batch may have put it back since.
        self._drop_pending(key)
        return _finished(self.using, key, outcome)

    def _write_batch(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
            self._batch_queued = False
        if not batch:
            return
        try:
            written = _write_checkpoints(self.using, batch)
        except DatabaseError:
            with self._lock:
                for key, content in batch.items():
                    self._pending.setdefault(key, content)  # newer content wins
            logger.exception(
                "run store: %d checkpoints not saved, retried with the next batch", len(batch)
            )
            raise
        except Exception:
            # Not the database's doing (a bug): retrying would fail every batch.
            logger.exception("run store: %d checkpoints dropped", len(batch))
            raise
        self._batches += 1
        self._written += written


def _started(using: str, run_id: uuid.UUID) -> None:
    now = timezone.now()
    Message.objects.using(using).filter(id=run_id).update(
        status=Message.Status.STREAMING, checkpoint_at=now, updated_at=now
    )


def _write_checkpoints(using: str, batch: dict[uuid.UUID, Checkpoint]) -> int:
    """The batch in one transaction, as one ``executemany`` of a single-row UPDATE
    of live rows. Returns the rows updated.

    Raw SQL because the ORM is most of the cost here (SQLite, per row): an
    ``update()`` ~130 us of query building, a ``Case(When…)`` UPDATE ~85 us,
    ``executemany`` ~5 us (and ~35 us for a batch of one). Values go through
    the fields' own ``get_db_prep_value``, as the ORM would send them.
    """
    connection = connections[using]
    sql = _checkpoint_sql(connection)
    now = _CHECKPOINT_AT.get_db_prep_value(timezone.now(), connection)
    rows = [
        (
            content,
            reasoning,
            reasoning,
            _TOOL_CALLS.get_db_prep_value(calls, connection),
            now,
            now,
            _PK.get_db_prep_value(key, connection),
            *_LIVE,
        )
        for key, (content, reasoning, calls) in batch.items()
    ]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)  # summed over the rows by both drivers


def _checkpoint_sql(connection: BaseDatabaseWrapper) -> str:
    sql = _CHECKPOINT_SQL.get(connection.vendor)
    if sql is None:
        q = connection.ops.quote_name
        live = ", ".join(["%s"] * len(_LIVE))
        sql = _CHECKPOINT_SQL[connection.vendor] = (
            f"UPDATE {q(Message._meta.db_table)} SET {q(_column('content'))} = %s,"
            # No thinking yet (a fresh answer after a Stop while thinking): what is stored stays.
            f" {q(_column('reasoning'))} = CASE WHEN %s = '' THEN"
            f" {q(_column('reasoning'))} ELSE %s END,"
            f" {q(_column('tool_calls'))} = %s,"
            f" {q(_column('checkpoint_at'))} = %s, {q(_column('updated_at'))} = %s"
            f" WHERE {q(_column('id'))} = %s AND {q(_column('status'))} IN ({live})"
        )
    return sql


def _column(name: str) -> str:
    field = Message._meta.get_field(name)
    assert isinstance(field, models.Field)  # a concrete column, not a relation
    return str(field.column)


def _finished(using: str, run_id: uuid.UUID, outcome: RunOutcome) -> bool:
    """Save the outcome; True when its title was saved too (not when the owner named it first)."""
    if outcome.title is None:
        _save_outcome(using, run_id, outcome)
        return False
    with transaction.atomic(using=using):
        kept = title_save(using=using, answer_id=run_id, title=outcome.title)
        _save_outcome(using, run_id, outcome)
    return kept


def _save_outcome(using: str, run_id: uuid.UUID, outcome: RunOutcome) -> None:
    now = timezone.now()
    metrics = outcome.metrics.as_dict()  # each metric under its own field name
    thought: dict[str, object] = {}
    if outcome.reasoning:
        thought = {"reasoning": outcome.reasoning, "reasoning_html": outcome.reasoning_html}
    else:
        # A fresh answer after a Stop while thinking (continuation.continue_spec)
        # that did not think keeps the thinking stored before it. A Continue
        # resumes the stored thinking, so its outcome holds it.
        for name in _REASONING_METRICS:
            metrics.pop(name)
    Message.objects.using(using).filter(id=run_id).update(
        status=outcome.status,
        content=outcome.content,
        html=outcome.html,
        **thought,
        finish_reason=outcome.finish_reason,
        error_code=outcome.error.code if outcome.error else "",
        error_message=outcome.error.message if outcome.error else "",
        error_retryable=outcome.error.retryable if outcome.error else True,
        retry_after_at=_retry_after_at(outcome.error, now),
        **metrics,
        tool_calls=[call.as_dict() for call in outcome.tool_calls],
        checkpoint_at=now,
        completed_at=now,
        updated_at=now,
    )


def _retry_after_at(error: RunError | None, now: datetime) -> datetime | None:
    """When a retry becomes allowed: the provider's wait made absolute, or None.

    A wait longer than ``MAX_SHOWN_RETRY_AFTER_S`` is held to it: past that the
    provider means "not soon" (a daily quota), and a Retry then simply asks again
    rather than locking the answer for hours on the word of one header.
    """
    if error is None or not error.retryable or not error.retry_after:
        return None
    return now + timedelta(seconds=min(error.retry_after, MAX_SHOWN_RETRY_AFTER_S))
