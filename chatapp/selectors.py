"""Reads: every query the views and services make, scoped to the owner.

Anything fetched by id goes through a ``…_for_user`` selector, so another
user's conversation is simply not found (404), never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db.models import F, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from chatapp.attachments.prompt import parts_by_message
from chatapp.context_budget import Fitted, fit
from chatapp.models import Attachment, Conversation, Message, Preferences
from chatapp.tree import active_path, earlier_on_path
from streaming.providers.base import ChatMessage


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    """The user's conversations, pinned first, then the most recently active."""
    return (
        Conversation.objects.filter(user=user, deleted_at__isnull=True)
        .only("id", "title", "updated_at", "pinned_at")
        .order_by(F("pinned_at").desc(nulls_last=True), "-updated_at")
    )


@dataclass(frozen=True, slots=True)
class ConversationGroup:
    label: str
    conversations: list[Conversation]


def group_conversations(
    conversations: list[Conversation], *, today: date
) -> list[ConversationGroup]:
    """The list as people scan it: "Pinned", "Today", "Yesterday", "Previous 7
    days", "Older" (``today`` in the user's time zone); empty groups left out."""
    labels = ("Pinned", "Today", "Yesterday", "Previous 7 days", "Older")
    groups: dict[str, list[Conversation]] = {label: [] for label in labels}
    for c in conversations:
        if c.pinned_at is not None:
            groups["Pinned"].append(c)
            continue
        age = (today - timezone.localdate(c.updated_at)).days
        label = "Today" if age <= 0 else "Yesterday" if age == 1 else "Previous 7 days"
        groups[label if age <= 7 else "Older"].append(c)
    return [ConversationGroup(label, items) for label, items in groups.items() if items]


def conversation_for_user(*, user: User, conversation_id: UUID | str) -> Conversation:
    try:
        return Conversation.objects.get(id=conversation_id, user=user, deleted_at__isnull=True)
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such conversation.") from None


def deleted_conversation_for_user(
    *, user: User, conversation_id: UUID | str, since: datetime
) -> Conversation:
    """A conversation of ``user`` deleted after ``since`` (Undo), else 404."""
    try:
        return Conversation.objects.get(
            id=conversation_id, user=user, deleted_at__isnull=False, deleted_at__gte=since
        )
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such conversation.") from None


def message_for_user(*, user: User, message_id: UUID | str) -> Message:
    try:
        return Message.objects.select_related("conversation").get(
            id=message_id, conversation__user=user, conversation__deleted_at__isnull=True
        )
    except (Message.DoesNotExist, ValueError, TypeError):
        raise Http404("No such message.") from None


async def amessage_for_user(*, user: User, message_id: UUID | str) -> Message:
    return await sync_to_async(message_for_user)(user=user, message_id=message_id)


def conversation_messages(*, conversation: Conversation) -> list[Message]:
    """The active path (chatapp/tree.py), each message with its ``versions``."""
    return active_path(conversation)


def attachment_for_user(*, user: User, attachment_id: UUID | str) -> Attachment:
    """An attachment of one of ``user``'s conversations (not deleted), else 404."""
    try:
        return Attachment.objects.get(
            id=attachment_id,
            message__conversation__user=user,
            message__conversation__deleted_at__isnull=True,
        )
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such attachment.") from None


def conversation_has_live_answer(*, conversation: Conversation) -> bool:
    return conversation.messages.filter(status__in=Message.LIVE_STATUSES).exists()


def live_messages(*, user: User) -> list[Message]:
    return list(Message.objects.filter(conversation__user=user, status__in=Message.LIVE_STATUSES))


def live_run_count(*, user: User) -> int:
    return live_run_count_of(user_id=user.pk)


def live_run_count_of(*, user_id: int) -> int:
    """The user's answers being written (the header's "N live", _live_count.html)."""
    return Message.objects.filter(
        conversation__user_id=user_id, status__in=Message.LIVE_STATUSES
    ).count()


async def alive_run_count_of(*, user_id: int) -> int:
    return await Message.objects.filter(
        conversation__user_id=user_id, status__in=Message.LIVE_STATUSES
    ).acount()


def recent_send_count(*, user: User, seconds: int) -> int:
    """Answers requested in the last ``seconds`` (one per send or retry, one per
    Continue), across processes.

    Continues are counted from ``Message.recent_continues``: the Continues of
    an answer that followed each other within the window, so a run of them is
    counted whole while its last one is in the window (never fewer than were
    made in it).
    """
    since = timezone.now() - timedelta(seconds=seconds)
    answers = Message.objects.filter(conversation__user=user, role=Message.Role.ASSISTANT)
    sent = answers.filter(created_at__gte=since).count()
    continued = answers.filter(continued_at__gte=since).aggregate(n=Sum("recent_continues"))
    return sent + (continued["n"] or 0)


def prompt_for(*, answer: Message, system: str, budget: int, images: bool = False) -> Fitted:
    """The messages the model sees for ``answer``, fitted to ``budget`` tokens.

    ``system`` first (if any), then the turns of the answer's own branch
    (chatapp/tree.py: other versions and later turns are never seen): each
    earlier question with the answer its next question followed, unless that
    answer failed or is empty (a Retry does not show the model its own broken
    try), oldest dropped first when they do not fit, then the question
    answered. User messages carry
    their attachments (``images``: whether the model reads images; if not,
    each is replaced by a line saying so). Raises ``context_budget.TooLong``
    when that message alone does not fit.
    """
    earlier = earlier_on_path(answer)
    # On one branch each question has at most one answer: the one followed.
    latest_answer: dict[object, Message] = {}
    for m in earlier:
        if m.role == Message.Role.ASSISTANT and m.content and m.status != Message.Status.FAILED:
            latest_answer[m.reply_to_id] = m
    questions = [m for m in earlier if m.role == Message.Role.USER]
    parts = parts_by_message(questions, images=images)
    history: list[ChatMessage] = []
    latest = ChatMessage("user", "")
    for m in questions:
        turn = ChatMessage("user", m.content, parts=parts.get(m.id, ()))
        if m.id == answer.reply_to_id:
            latest = turn
            break
        history.append(turn)
        reply = latest_answer.get(m.id)
        if reply is not None:
            history.append(ChatMessage("assistant", reply.content))
    return fit(system=system, history=history, latest=latest, budget=budget)


def preferences_for(*, user: User) -> Preferences:
    """The user's settings; the defaults (unsaved) if they never changed any."""
    try:
        return Preferences.objects.get(user=user)
    except Preferences.DoesNotExist:
        return Preferences(user=user)
