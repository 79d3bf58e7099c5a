"""The database side of a run (implements ``streaming.runs.RunStore``).

Each method is one short write in a sync function, hopped to a thread once:
cheaper than several async ORM calls, and it lets us drop stale connections
first (a run outlives the request that started it, so Django's per-request
connection housekeeping never runs for it).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from chatapp.models import Message
from streaming.runs.store import RunOutcome


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
