"""The owner's own actions on a conversation: its instructions, name, pin,
deletion with Undo, and the purge of what Undo can no longer bring back.

Sending and answering live in ``chatapp/services.py``; these change the
conversation itself and start no run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from chatapp.attachments.store import delete_files, stored_names
from chatapp.endpoints import REASONING_EFFORTS
from chatapp.models import Conversation, Message
from chatapp.runtime import get_manager
from chatapp.services import SendError
from chatapp.titles import TITLE_CHARS


def conversation_set_system_prompt(*, conversation: Conversation, text: str | None) -> None:
    """The conversation's own instructions (``None``: back to the default; an
    empty text: none at all). Later answers use them; earlier ones keep theirs."""
    if text is not None:
        text = text.strip()
        limit = settings.SPOOL_MAX_MESSAGE_CHARS
        if len(text) > limit:
            raise SendError(
                f"Those instructions are {len(text):,} characters long; the limit is "
                f"{limit:,}. Shorten them."
            )
    conversation.system_prompt = text
    conversation.save(update_fields=["system_prompt", "updated_at"])


def conversation_set_reasoning_effort(*, conversation: Conversation, effort: str) -> None:
    """How hard a reasoning model thinks in this conversation ("": its default).
    Later answers ask for it; a model not configured as a reasoning model is
    never sent it (``endpoints.requested_effort``)."""
    if effort and effort not in REASONING_EFFORTS:
        raise SendError(f"Choose an effort of {', '.join(REASONING_EFFORTS)}, or the default.")
    conversation.reasoning_effort = effort
    conversation.save(update_fields=["reasoning_effort", "updated_at"])


def conversation_rename(*, conversation: Conversation, title: str) -> None:
    title = " ".join(title.split())
    if not title:
        raise SendError("Give the conversation a name.")
    limit = Conversation._meta.get_field("title").max_length or TITLE_CHARS
    if len(title) > limit:
        raise SendError(f"That name is {len(title):,} characters long; the limit is {limit}.")
    conversation.title = title
    # The owner's name: a title the model proposes later never replaces it.
    conversation.title_source = Conversation.TitleSource.OWNER
    conversation.save(update_fields=["title", "title_source"])


def conversation_pin(*, conversation: Conversation, pinned: bool) -> None:
    # Not ``save()``: pinning is not activity, the conversation keeps its place
    # among the others by its last message.
    pinned_at = timezone.now() if pinned else None
    Conversation.objects.filter(id=conversation.id).update(pinned_at=pinned_at)
    conversation.pinned_at = pinned_at


def conversation_delete(*, conversation: Conversation) -> None:
    """Gone for its owner at once; ``conversation_restore`` brings it back for
    ``SPOOL_UNDO_DELETE_S`` seconds, then ``conversation_purge_deleted`` removes it.

    Live answers must be stopped first (``aconversation_delete``)."""
    now = timezone.now()
    Conversation.objects.filter(id=conversation.id).update(deleted_at=now)
    conversation.deleted_at = now


def undo_deadline() -> datetime:
    """Conversations deleted after this instant can still be restored."""
    return timezone.now() - timedelta(seconds=settings.SPOOL_UNDO_DELETE_S)


def conversation_restore(*, conversation: Conversation) -> None:
    Conversation.objects.filter(id=conversation.id).update(deleted_at=None)
    conversation.deleted_at = None


def conversation_purge_deleted(*, user_id: int | None = None) -> int:
    """Remove for good the conversations deleted longer ago than Undo allows
    (their messages and attachments go with them, stored files included), of
    one user or of all; returns how many."""
    gone = Conversation.objects.filter(deleted_at__lt=undo_deadline())
    if user_id is not None:
        gone = gone.filter(user_id=user_id)
    files = stored_names(gone)
    _, per_model = gone.delete()
    # After the rows: a file whose deletion fails is unreachable, never a row
    # pointing at nothing.
    delete_files(files)
    return per_model.get(Conversation._meta.label, 0)


def _live_answer_ids(conversation: Conversation) -> list[str]:
    live = conversation.messages.filter(status__in=Message.LIVE_STATUSES)
    return [str(pk) for pk in live.values_list("id", flat=True)]


async def aconversation_delete(*, conversation: Conversation) -> None:
    """Stop the conversation's live answers (their partial text is kept, for
    an Undo), delete it, and purge the owner's older deletions."""
    for run_id in await sync_to_async(_live_answer_ids)(conversation):
        await get_manager().stop(run_id, seen_offset=None)
    await sync_to_async(conversation_delete)(conversation=conversation)
    await sync_to_async(conversation_purge_deleted)(user_id=conversation.user_id)
