"""Reads: every query the views and services make, scoped to the owner.

Anything fetched by id goes through a ``…_for_user`` selector, so another
user's conversation is simply not found (404), never "forbidden".
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from chatapp.context_budget import Fitted, fit
from chatapp.models import Conversation, Message
from streaming.providers.base import ChatMessage


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user).only("id", "title", "updated_at")


def conversation_for_user(*, user: User, conversation_id: UUID | str) -> Conversation:
    try:
        return Conversation.objects.get(id=conversation_id, user=user)
    except (Conversation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such conversation.") from None


def message_for_user(*, user: User, message_id: UUID | str) -> Message:
    try:
        return Message.objects.select_related("conversation").get(
            id=message_id, conversation__user=user
        )
    except (Message.DoesNotExist, ValueError, TypeError):
        raise Http404("No such message.") from None


async def amessage_for_user(*, user: User, message_id: UUID | str) -> Message:
    return await sync_to_async(message_for_user)(user=user, message_id=message_id)


def conversation_messages(*, conversation: Conversation) -> list[Message]:
    return list(conversation.messages.order_by("created_at"))


def conversation_has_live_answer(*, conversation: Conversation) -> bool:
    return conversation.messages.filter(status__in=Message.LIVE_STATUSES).exists()


def live_messages(*, user: User) -> list[Message]:
    return list(Message.objects.filter(conversation__user=user, status__in=Message.LIVE_STATUSES))


def live_run_count(*, user: User) -> int:
    return Message.objects.filter(conversation__user=user, status__in=Message.LIVE_STATUSES).count()


def recent_send_count(*, user: User, seconds: int) -> int:
    """Answers requested in the last ``seconds`` (one per send or retry), across processes."""
    since = timezone.now() - timedelta(seconds=seconds)
    return Message.objects.filter(
        conversation__user=user, role=Message.Role.ASSISTANT, created_at__gte=since
    ).count()


def prompt_for(*, answer: Message, system: str, budget: int) -> Fitted:
    """The messages the model sees for ``answer``, fitted to ``budget`` tokens.

    ``system`` first (if any), then every earlier user message with its latest
    usable answer (failed attempts and empty ones are left out, so a Retry
    does not show the model its own broken try), oldest dropped first when
    they do not fit, then the user message answered. Raises
    ``context_budget.TooLong`` when that message alone does not fit.
    """
    earlier = list(
        answer.conversation.messages.filter(created_at__lt=answer.created_at).order_by("created_at")
    )
    latest_answer: dict[object, Message] = {}
    for m in earlier:
        if m.role == Message.Role.ASSISTANT and m.content and m.status != Message.Status.FAILED:
            latest_answer[m.reply_to_id] = m
    history: list[ChatMessage] = []
    latest = ChatMessage("user", "")
    for m in earlier:
        if m.role != Message.Role.USER:
            continue
        if m.id == answer.reply_to_id:
            latest = ChatMessage("user", m.content)
            break
        history.append(ChatMessage("user", m.content))
        reply = latest_answer.get(m.id)
        if reply is not None:
            history.append(ChatMessage("assistant", reply.content))
    return fit(system=system, history=history, latest=latest, budget=budget)
