"""The database side of a run (implements ``streaming.runs.RunStore``).

Each method is one short write in a sync function, hopped to a thread once:
cheaper than several async ORM calls, and it lets us drop stale connections
first (a run outlives the request that started it, so Django's per-request
connection housekeeping never runs for it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from chatapp.models import Message
from streaming.providers.errors import MAX_SHOWN_RETRY_AFTER_S
from streaming.runs.store import RunError, RunOutcome


class DjangoRunStore:
    async def started(self, run_id: str) -> None:
        await sync_to_async(_started)(run_id)

    async def checkpoint(self, run_id: str, *, content: str) -> None:
        await sync_to_async(_checkpoint)(run_id, content)

    async def finished(self, run_id: str, outcome: RunOutcome) -> None:
        await sync_to_async(_finished)(run_id, outcome)


def _started(run_id: str) -> None:
    close_old_connections()
    now = timezone.now()
    Message.objects.filter(id=run_id).update(
        status=Message.Status.STREAMING, checkpoint_at=now, updated_at=now
    )


def _checkpoint(run_id: str, content: str) -> None:
    close_old_connections()
    now = timezone.now()
    Message.objects.filter(id=run_id).update(content=content, checkpoint_at=now, updated_at=now)


def _finished(run_id: str, outcome: RunOutcome) -> None:
    close_old_connections()
    now = timezone.now()
    m = outcome.metrics
    Message.objects.filter(id=run_id).update(
        status=outcome.status,
        content=outcome.content,
        html=outcome.html,
        finish_reason=outcome.finish_reason,
        error_code=outcome.error.code if outcome.error else "",
        error_message=outcome.error.message if outcome.error else "",
        error_retryable=outcome.error.retryable if outcome.error else True,
        retry_after_at=_retry_after_at(outcome.error, now),
        ttft_ms=m.ttft_ms,
        provider_ttft_ms=m.provider_ttft_ms,
        duration_ms=m.duration_ms,
        prompt_tokens=m.prompt_tokens,
        output_tokens=m.output_tokens,
        output_tokens_estimated=m.output_tokens_estimated,
        tokens_per_s=m.tokens_per_s,
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
