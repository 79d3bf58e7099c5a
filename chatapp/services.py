"""Writes: sends and Stop, and what the other writes of messages share.

With ``continuation.py`` (Continue), ``versions.py`` (Regenerate, Edit &
resend) and ``conversations.py``, the only code that changes conversations
and messages. Here: the checks a send passes, and ``committed_then_run``,
which starts the answer's run once its rows are saved.

Named ``<entity>_<action>`` with keyword-only arguments. Sync functions run in
one transaction each; the async ``a…`` wrappers used by the views also start the
run once the rows are committed (a run must never see a row that could still
roll back). Whatever fails after that commit ends the answer failed in place
(``answer_failed_to_start``), never a 500 with a pending answer and no run.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chatapp import selectors, tree
from chatapp.attachments.errors import AttachmentError
from chatapp.attachments.prepare import Prepared
from chatapp.attachments.prompt import (
    accepts_images,
    check_carried_vision,
    check_vision,
    prepared_parts,
    stored_parts,
)
from chatapp.attachments.store import attachments_save, files_removed_on_failure
from chatapp.context_budget import TooLong, estimate_tokens, part_tokens, prompt_budget
from chatapp.endpoints import requested_effort
from chatapp.models import Conversation, Message, Preferences
from chatapp.runtime import catalogue, get_manager, model_entry, provider_for, tools_for
from chatapp.titles import first_words, title_job
from streaming.markdown import render_markdown
from streaming.providers.errors import MSG_CONTEXT
from streaming.runs import RunSpec, ShuttingDown
from streaming.runs.segments import answer_html
from streaming.runs.store import ToolRecord

logger = logging.getLogger(__name__)

# SPOOL_MAX_SENDS_PER_MINUTE counts the sends of this many seconds.
SEND_WINDOW_S = 60


# A send while the process stops: the next process (or this one, restarted)
# takes it, so the user only has to send again.
SHUTTING_DOWN = (
    "Spool is restarting and takes no new messages for a moment. "
    "Your text is kept; send it again in a few seconds."
)


# An answer whose run could not start once its rows were written (its prompt,
# a stored file, the run itself): said on the answer, failed in place.
START_FAILED = (
    "Spool hit an error on the server before the model was asked, so nothing was "
    "sent to it. Retry to try again; if it fails again, an administrator can find "
    "the details in the logs."
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


def _clean_text(text: str, *, attached: bool = False) -> str:
    text = text.strip()
    if not text and not attached:  # an attachment alone is a question too
        raise SendError("Write a message first.")
    limit = settings.SPOOL_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise SendError(
            f"That message is {len(text):,} characters long; the limit is {limit:,}. "
            "Shorten it or split it into parts."
        )
    return text


def check_model(model: str) -> None:
    if catalogue().get(model) is None:
        raise SendError(f"The model “{model}” is not available. Pick another model.")


def check_capacity(user: User) -> None:
    sends = selectors.recent_send_count(user=user, seconds=SEND_WINDOW_S)
    if sends >= settings.SPOOL_MAX_SENDS_PER_MINUTE:
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


def system_prompt_of(conversation: Conversation) -> str:
    """What the model is told first: the conversation's own, else the default."""
    if conversation.system_prompt is not None:
        return conversation.system_prompt
    return str(settings.SPOOL_SYSTEM_PROMPT)


def model_budget(model: str) -> int:
    options = model_entry(model).options
    return prompt_budget(
        context_window=options.context_window or settings.SPOOL_DEFAULT_CONTEXT_WINDOW,
        max_output_tokens=options.max_output_tokens or settings.SPOOL_MAX_OUTPUT_TOKENS,
    )


def _check_attachments(
    model: str, files: Sequence[Prepared] | Message, *, answered: bool = False
) -> None:
    """Images only for models that read them: refused before the request.
    ``files``: a send's prepared files, or a stored question: the one an
    edit replaces, or (``answered``) the one a Regenerate, Retry or Continue
    answers again."""
    try:
        if isinstance(files, Message):
            check_carried_vision(model_entry(model), files, answered=answered)
        else:
            check_vision(model_entry(model), files)
    except AttachmentError as exc:
        raise SendError(exc.message, exc.status) from None


def check_answered_vision(model: str, question: Message) -> None:
    """Continue answers ``question`` again, as a Regenerate does: its images
    only for a model that still reads them (``_check_attachments``)."""
    _check_attachments(model, question, answered=True)


def _check_fits(
    model: str, system: str, text: str, files: Sequence[Prepared] | Message = ()
) -> None:
    """Refuse, before anything is written, a message the model could not read
    even with every earlier turn left out, its attachments included: ``files``
    are a send's prepared files, or the stored question a Retry answers."""
    budget = model_budget(model)
    needed = (estimate_tokens(system) if system else 0) + estimate_tokens(text)
    parts = stored_parts(files) if isinstance(files, Message) else prepared_parts(files)
    needed += sum(part_tokens(p) for p in parts)
    if needed > budget:
        raise SendError(
            f"That message is too long for this model: about {needed:,} tokens with the "
            f"conversation's instructions, and the model reads {budget:,}. "
            "Shorten it or split it into parts; your text is kept."
        )


@transaction.atomic
def conversation_start(
    *, user: User, text: str, model: str, files: Sequence[Prepared] = ()
) -> Sent:
    """A new conversation and its first exchange; ``files`` (prepared by
    ``chatapp.attachments.prepare``) are stored on the user message."""
    text = _clean_text(text, attached=bool(files))
    check_model(model)
    _check_attachments(model, files)
    _check_fits(model, str(settings.SPOOL_SYSTEM_PROMPT), text, files)
    check_capacity(user)
    title = first_words(text or ", ".join(f.name for f in files))
    conversation = Conversation.objects.create(user=user, model=model, title=title)
    return _add_exchange(conversation, text, files)


@transaction.atomic
def message_send(
    *, conversation: Conversation, text: str, files: Sequence[Prepared] = (), after: str = ""
) -> Sent:
    """A question and its pending answer, after the answer ``after`` (the last
    one the sender's page shows: a page open on another branch continues
    that branch), else after the conversation's active leaf."""
    text = check_question(conversation, text, files=files, then="send again")
    parent = tree.send_parent(conversation, after)
    return _add_exchange(conversation, text, files, parent=parent)


def check_question(
    conversation: Conversation,
    text: str,
    *,
    files: Sequence[Prepared] | Message = (),
    carried: Message | None = None,
    then: str,
) -> str:
    """``text`` cleaned, or ``SendError`` for why asking it in ``conversation``
    is refused now (``then``: what to do once the live answer is over).
    ``files``: a send's prepared files, or the stored question a regenerate
    answers (its text was checked when it was sent; its images are checked
    again: the model may no longer read them).
    ``carried``: the question an edit replaces, whose attachments go with
    ``text`` (``versions.carry_over``): they count like a send's files, so a
    new branch the model could not be asked is never written."""
    # First: the checks of attachments need the model's options.
    check_model(conversation.model)
    fitted: Sequence[Prepared] | Message = files
    if isinstance(files, Message):
        text = files.content
        _check_attachments(conversation.model, files, answered=True)
    elif carried is not None:
        text = _clean_text(text, attached=carried.attachments.exists())
        _check_attachments(conversation.model, carried)
        fitted = carried  # the new text, with the old question's files
    else:
        text = _clean_text(text, attached=bool(files))
        _check_attachments(conversation.model, files)
    _check_fits(conversation.model, system_prompt_of(conversation), text, fitted)
    check_capacity(conversation.user)
    if selectors.conversation_has_live_answer(conversation=conversation):
        raise BusyError(f"Wait for the current answer to finish, or stop it, then {then}.")
    return text


def _add_exchange(
    conversation: Conversation,
    text: str,
    files: Sequence[Prepared] = (),
    *,
    parent: Message | None = None,
) -> Sent:
    user_message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text, parent=parent
    )
    # Written last, after every check: a refused send stores no file.
    with files_removed_on_failure() as stored:
        attachments_save(message=user_message, files=files, stored=stored)
        assistant = new_answer(conversation, reply_to=user_message)
    return Sent(conversation, user_message, assistant)


def new_answer(conversation: Conversation, *, reply_to: Message) -> Message:
    """A pending answer to ``reply_to``, which becomes the end of the path shown."""
    answer = Message.objects.create(
        conversation=conversation,
        reply_to=reply_to,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        model=conversation.model,
        correlation_id=uuid.uuid4().hex[:16],
    )
    conversation.active_leaf = answer
    conversation.save(update_fields=["updated_at", "active_leaf"])
    return answer


def message_mark_interrupted(*, message: Message) -> None:
    """A live message whose run is gone (server restart): keep what was saved."""
    content, reasoning, stored_calls = Message.objects.values_list(
        "content", "reasoning", "tool_calls"
    ).get(id=message.id)
    # The calls as last checkpointed; one still running then was stopped by the crash.
    calls = [ToolRecord.from_dict(call).interrupted() for call in stored_calls or ()]
    updated = Message.objects.filter(id=message.id, status__in=Message.LIVE_STATUSES).update(
        status=Message.Status.INTERRUPTED,
        # Drawn as a finished answer is: its text with each chip in its place.
        html=answer_html(content, [call.chip for call in calls if call.chip is not None]),
        tool_calls=[call.as_dict() for call in calls],
        # The thinking as last checkpointed, kept apart like a finished run's.
        reasoning_html=render_markdown(reasoning) if reasoning else "",
        error_code="interrupted",
        error_message="The server restarted while this answer was being written. "
        "The saved part is kept: Continue finishes it, Retry writes a new answer.",
        completed_at=timezone.now(),
    )
    if updated:
        message.refresh_from_db()


def run_spec(sent: Sent, accepted_at: float) -> RunSpec:
    answer = sent.assistant_message
    # Checked before the write (check_model, _check_fits): the model is
    # offered and the message answered fits its context.
    entry = model_entry(answer.model)
    fitted = selectors.prompt_for(
        answer=answer,
        system=system_prompt_of(sent.conversation),
        budget=model_budget(answer.model),
        images=accepts_images(entry),
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
        title=title_job(
            conversation=sent.conversation, answer=answer, reasoning=entry.options.reasoning
        ),
        tools=tools_for(answer.model),
        reasoning_effort=requested_effort(entry, sent.conversation.reasoning_effort),
    )


def answer_failed_to_start(*, answer: Message, error: Exception) -> None:
    """End ``answer`` failed, in place: its rows are committed but its run
    could not start (``committed_then_run``). Left pending it would count as
    a live answer with no run, refusing the next send until it was reaped;
    failed, it shows what happened and offers Retry where that can help.
    The text of a continued answer is kept."""
    logger.error(
        "answer %s (correlation %s) could not start; saved as failed",
        answer.id,
        answer.correlation_id,
        exc_info=error,
    )
    code, message, retryable = "internal", START_FAILED, True
    if isinstance(error, TooLong):
        # What a model server's "context length" says: Retry cannot help.
        code, message, retryable = "context_length", MSG_CONTEXT, False
    now = timezone.now()
    Message.objects.filter(id=answer.id, status__in=Message.LIVE_STATUSES).update(
        status=Message.Status.FAILED,
        error_code=code,
        error_message=message,
        error_retryable=retryable,
        retry_after_at=None,
        completed_at=now,
        updated_at=now,
    )
    answer.refresh_from_db()


SpecFor = Callable[[Sent, float], RunSpec]


def _write_then_spec(
    write: Callable[[], Sent], accepted_at: float, spec_for: SpecFor
) -> tuple[Sent, RunSpec | None]:
    """The rows, then the run's spec; None (the answer failed in place) when
    building it raised: the rows are committed by then, nothing rolls back."""
    sent = write()  # committed on return: the run may read the rows
    try:
        return sent, spec_for(sent, accepted_at)
    except Exception as exc:
        answer_failed_to_start(answer=sent.assistant_message, error=exc)
        return sent, None


async def committed_then_run(
    write: Callable[[], Sent], spec_for: SpecFor = run_spec, *, rerun: bool = False
) -> Sent:
    """Write (``write``, one transaction), then start the answer's run from
    ``spec_for``'s spec; ``rerun``: the answer ran before under its id (Continue).

    Refusals (``SendError``) come before anything is written. Once the rows
    are committed, a failure to start the run (an error building the prompt,
    reading a stored file, in the run manager) ends the answer failed in
    place and returns normally: the caller shows the failed answer."""
    accepted_at = time.monotonic()
    manager = get_manager()
    if manager.closing:
        # Refused before any row is written: nothing is left pending.
        raise SendError(SHUTTING_DOWN, status=503)
    # One thread hop for the transaction and the prompt read after it.
    sent, spec = await sync_to_async(_write_then_spec)(write, accepted_at, spec_for)
    if spec is None:
        return sent
    try:
        if rerun:
            # Continue runs again under the message's id: its previous run must
            # be over (it is saved, but may still be closing its log) and its
            # log gone, so the new one starts at offset 1.
            await manager.wait(spec.run_id)
            await manager.log.discard(spec.run_id)
        manager.start(spec, provider_for(sent.assistant_message.model))
    except ShuttingDown:
        # The shutdown began during the write: the new answer never runs.
        await sync_to_async(message_mark_interrupted)(message=sent.assistant_message)
        raise SendError(SHUTTING_DOWN, status=503) from None
    except Exception as exc:
        await sync_to_async(answer_failed_to_start)(answer=sent.assistant_message, error=exc)
        return sent
    # The page subscribes as soon as it has our answer: the run's log must
    # exist by then, or the stream would find nothing to follow yet.
    await manager.opened(spec.run_id)
    return sent


class SettingsError(ValueError):
    """A settings form value Spool does not know; the message says what is allowed."""


def preferences_update(*, user: User, read_aloud: str) -> Preferences:
    """Save the user's read-aloud mode (``Preferences.ReadAloud``)."""
    if read_aloud not in Preferences.ReadAloud.values:
        choices = " or ".join(f"“{label}”" for label in Preferences.ReadAloud.labels)
        raise SettingsError(f"Pick {choices}.")
    preferences, _ = Preferences.objects.update_or_create(
        user=user, defaults={"read_aloud": read_aloud}
    )
    return preferences


async def aconversation_start(
    *, user: User, text: str, model: str, files: Sequence[Prepared] = ()
) -> Sent:
    return await committed_then_run(
        lambda: conversation_start(user=user, text=text, model=model, files=files)
    )


async def amessage_send(
    *, conversation: Conversation, text: str, files: Sequence[Prepared] = (), after: str = ""
) -> Sent:
    return await committed_then_run(
        lambda: message_send(conversation=conversation, text=text, files=files, after=after)
    )


async def amessage_stop(*, message: Message, seen_offset: int | None) -> bool:
    """Stop a live answer; True if this process owned the run and it is saved."""
    return await get_manager().stop(str(message.id), seen_offset=seen_offset)
