"""Writes: the only code that changes conversations and messages.

Named ``<entity>_<action>`` with keyword-only arguments. Sync functions run in
one transaction each; the async ``a…`` wrappers used by the views also start the
run once the rows are committed (a run must never see a row that could still
roll back).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chatapp import retry, selectors
from chatapp.context_budget import estimate_tokens, prompt_budget
from chatapp.models import Conversation, Message
from chatapp.runtime import catalogue, get_manager, model_entry, provider_for
from streaming.markdown import render_markdown
from streaming.runs import RunSpec, ShuttingDown

# The sidebar shows this much of the first message as the conversation's title.
TITLE_CHARS = 80


# A send while the process stops: the next process (or this one, restarted)
# takes it, so the user only has to send again.
SHUTTING_DOWN = (
    "Spool is restarting and takes no new messages for a moment. "
    "Your text is kept; send it again in a few seconds."
)


@dataclass(frozen=True, slots=True)
class SendError(Exception):
    """Why a message was not accepted; shown next to the composer, text kept.

    ``status`` is the response's: 422 for what the user can change, 503 while
    the server stops (nothing to change but the moment)."""

    message: str
    status: int = 422


class BusyError(SendError):
    """Refused because of the user's live answers. Crash leftovers (live rows
    whose run is gone) may be what counts: ``chatapp.live.asend`` marks them
    and tries again."""


@dataclass(frozen=True, slots=True)
class Sent:
    conversation: Conversation
    user_message: Message | None
    assistant_message: Message


def _clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise SendError("Write a message first.")
    limit = settings.SPOOL_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise SendError(
            f"That message is {len(text):,} characters long; the limit is {limit:,}. "
            "Shorten it or split it into parts."
        )
    return text


def _check_model(model: str) -> None:
    if catalogue().get(model) is None:
        raise SendError(f"The model “{model}” is not available. Pick another model.")


def _check_capacity(user: User) -> None:
    if selectors.recent_send_count(user=user, seconds=60) >= settings.SPOOL_MAX_SENDS_PER_MINUTE:
        raise SendError(
            "You are sending messages faster than Spool allows. Wait a minute, then send again; "
            "your text is kept."
        )
    limit = settings.SPOOL_MAX_CONCURRENT_RUNS_PER_USER
    if selectors.live_run_count(user=user) >= limit:
        raise BusyError(
            f"You already have {limit} answers being written. "
            "Wait for one to finish or stop it, then send again."
        )


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def system_prompt_of(conversation: Conversation) -> str:
    """What the model is told first: the conversation's own, else the default."""
    if conversation.system_prompt is not None:
        return conversation.system_prompt
    return str(settings.SPOOL_SYSTEM_PROMPT)


def _budget(model: str) -> int:
    options = model_entry(model).options
    return prompt_budget(
        context_window=options.context_window or settings.SPOOL_DEFAULT_CONTEXT_WINDOW,
        max_output_tokens=options.max_output_tokens or settings.SPOOL_MAX_OUTPUT_TOKENS,
    )


def _check_fits(model: str, system: str, text: str) -> None:
    """Refuse, before anything is written, a message the model could not read
    even with every earlier turn left out."""
    budget = _budget(model)
    needed = (estimate_tokens(system) if system else 0) + estimate_tokens(text)
    if needed > budget:
        raise SendError(
            f"That message is too long for this model: about {needed:,} tokens with the "
            f"conversation's instructions, and the model reads {budget:,}. "
            "Shorten it or split it into parts; your text is kept."
        )


@transaction.atomic
def conversation_start(*, user: User, text: str, model: str) -> Sent:
    text = _clean_text(text)
    _check_model(model)
    _check_fits(model, str(settings.SPOOL_SYSTEM_PROMPT), text)
    _check_capacity(user)
    conversation = Conversation.objects.create(user=user, model=model, title=_title(text))
    return _add_exchange(conversation, text)


@transaction.atomic
def message_send(*, conversation: Conversation, text: str) -> Sent:
    text = _clean_text(text)
    _check_model(conversation.model)
    _check_fits(conversation.model, system_prompt_of(conversation), text)
    _check_capacity(conversation.user)
    if selectors.conversation_has_live_answer(conversation=conversation):
        raise BusyError("Wait for the current answer to finish, or stop it, then send again.")
    return _add_exchange(conversation, text)


def _add_exchange(conversation: Conversation, text: str) -> Sent:
    user_message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text
    )
    assistant = _new_answer(conversation, reply_to=user_message)
    return Sent(conversation, user_message, assistant)


def _new_answer(conversation: Conversation, *, reply_to: Message) -> Message:
    conversation.save(update_fields=["updated_at"])
    return Message.objects.create(
        conversation=conversation,
        reply_to=reply_to,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        model=conversation.model,
        correlation_id=uuid.uuid4().hex[:16],
    )


@transaction.atomic
def message_retry(*, message: Message) -> Sent:
    """A new answer to the same user message; the old one stays in the transcript.

    Refused (``SendError``) while the failed answer's error forbids it: see
    ``chatapp.retry.refusal``.
    """
    if message.role != Message.Role.ASSISTANT or message.is_live or message.reply_to is None:
        raise SendError("Only a finished answer can be retried.")
    # What the model server said about this failure: a bad key or a too-long
    # prompt fails again whatever the timing; a Retry-After must be waited out.
    if (reason := retry.refusal(message)) is not None:
        raise SendError(reason)
    conversation = message.conversation
    _check_model(conversation.model)
    _check_fits(conversation.model, system_prompt_of(conversation), message.reply_to.content)
    _check_capacity(conversation.user)
    if selectors.conversation_has_live_answer(conversation=conversation):
        raise BusyError("Wait for the current answer to finish, or stop it, then retry.")
    return Sent(conversation, None, _new_answer(conversation, reply_to=message.reply_to))


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


def message_mark_interrupted(*, message: Message) -> None:
    """A live message whose run is gone (server restart): keep what was saved."""
    content = Message.objects.values_list("content", flat=True).get(id=message.id)
    updated = Message.objects.filter(id=message.id, status__in=Message.LIVE_STATUSES).update(
        status=Message.Status.INTERRUPTED,
        html=render_markdown(content),
        error_code="interrupted",
        error_message="The server restarted while this answer was being written. "
        "The saved part is kept; Retry for a full answer.",
        completed_at=timezone.now(),
    )
    if updated:
        message.refresh_from_db()


def _run_spec(sent: Sent, accepted_at: float) -> RunSpec:
    answer = sent.assistant_message
    # Checked before the write (_check_model, _check_fits): the model is
    # offered and the message answered fits its context.
    entry = model_entry(answer.model)
    fitted = selectors.prompt_for(
        answer=answer, system=system_prompt_of(sent.conversation), budget=_budget(answer.model)
    )
    if fitted.dropped:
        # Said on the answer: the model did not see the whole conversation.
        Message.objects.filter(id=answer.id).update(prompt_dropped=fitted.dropped)
        answer.prompt_dropped = fitted.dropped
    return RunSpec(
        run_id=str(answer.id),
        user_id=sent.conversation.user_id,
        # The server's name for the model; messages keep the picker's id.
        model=entry.name,
        messages=fitted.messages,
        correlation_id=answer.correlation_id,
        accepted_at=accepted_at,
        max_tokens=entry.options.max_output_tokens,
    )


def _write_then_spec(write: Callable[[], Sent], accepted_at: float) -> tuple[Sent, RunSpec]:
    sent = write()  # committed on return: the run may read the rows
    return sent, _run_spec(sent, accepted_at)


async def _committed_then_run(write: Callable[[], Sent]) -> Sent:
    accepted_at = time.monotonic()
    manager = get_manager()
    if manager.closing:
        # Refused before any row is written: nothing is left pending.
        raise SendError(SHUTTING_DOWN, status=503)
    # One thread hop for the transaction and the prompt read after it.
    sent, spec = await sync_to_async(_write_then_spec)(write, accepted_at)
    try:
        manager.start(spec, provider_for(sent.assistant_message.model))
    except ShuttingDown:
        # The shutdown began during the write: the new answer never runs.
        await sync_to_async(message_mark_interrupted)(message=sent.assistant_message)
        raise SendError(SHUTTING_DOWN, status=503) from None
    # The page subscribes as soon as it has our answer: the run's log must
    # exist by then, or the stream would find nothing to follow yet.
    await manager.opened(spec.run_id)
    return sent


async def aconversation_start(*, user: User, text: str, model: str) -> Sent:
    return await _committed_then_run(lambda: conversation_start(user=user, text=text, model=model))


async def amessage_send(*, conversation: Conversation, text: str) -> Sent:
    return await _committed_then_run(lambda: message_send(conversation=conversation, text=text))


async def amessage_retry(*, message: Message) -> Sent:
    return await _committed_then_run(lambda: message_retry(message=message))


async def amessage_stop(*, message: Message, seen_offset: int | None) -> bool:
    """Stop a live answer; True if this process owned the run and it is saved."""
    return await get_manager().stop(str(message.id), seen_offset=seen_offset)
