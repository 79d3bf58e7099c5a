"""Continue: more streamed into a stopped, interrupted, cut-short or failed answer
(a failure that may pass: ``chatapp.retry.continue_offered``).

The same message, not a new version (those are ``chatapp/versions.py``): the
row turns ``pending`` again (``message_continue``), the model is shown the
conversation up to the question and the partial answer (``continue_prompt``),
and the run starts from the stored text (``streaming.runs.Resume``), its
metrics adding up to the earlier parts'. The checks and the start of the run
are the sends' (``chatapp/services.py``); docs/streaming.md, Continue.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import timedelta

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from chatapp import retry, selectors
from chatapp.attachments.prompt import accepts_images, stored_parts
from chatapp.context_budget import estimate_tokens, part_tokens
from chatapp.endpoints import requested_effort
from chatapp.models import Message
from chatapp.runtime import model_entry
from chatapp.services import (
    SEND_WINDOW_S,
    BusyError,
    SendError,
    Sent,
    check_answered_vision,
    check_capacity,
    check_model,
    committed_then_run,
    model_budget,
    run_spec,
    system_prompt_of,
)
from streaming.providers.base import ChatMessage
from streaming.runs import Resume, RunMetrics, RunSpec
from streaming.runs.store import ToolRecord

# Continue without a prefill: the partial answer is the last assistant turn,
# then this. Models often start over anyway; the run trims what they repeat
# (streaming/runs/seam.py).
CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it from exactly where it stopped, "
    "even in the middle of a word, a list, a table or a code block. Do not repeat "
    "what you already wrote, do not start over and do not comment on the "
    "interruption: write only the rest."
)


@transaction.atomic
def message_continue(*, message: Message) -> Sent:
    """Stream more into a stopped, interrupted, cut-short or transiently failed
    answer (the same message).

    Counts as a send for the per-minute limit and takes a live-answer slot;
    refused (``SendError``) like a send, and while the answer is not one
    Continue is offered for (``chatapp.retry.continue_refusal``). The row
    turns ``pending`` in one conditional update, so of two Continues only one
    starts a run.
    """
    if (reason := retry.continue_refusal(message)) is not None:
        raise SendError(reason)
    conversation = message.conversation
    check_model(message.model)
    assert message.reply_to is not None  # continue_refusal checked it
    # The model would see the "left out" note in the image's place.
    check_answered_vision(message.model, message.reply_to)
    _check_continue_fits(message)
    check_capacity(conversation.user)
    if selectors.conversation_has_live_answer(conversation=conversation):
        raise BusyError("Wait for the current answer to finish, or stop it, then continue.")
    now = timezone.now()
    # checkpoint_at: a live row with an old checkpoint and no run yet would
    # pass for a crash leftover (chatapp/live.py) before the run starts.
    chained = Q(continued_at__gte=now - timedelta(seconds=SEND_WINDOW_S))
    taken = Message.objects.filter(id=message.id, status=message.status).update(
        status=Message.Status.PENDING,
        # A failed answer goes on: its error is history (a live answer shows
        # none), and the run's end saves its own.
        error_code="",
        error_message="",
        error_retryable=True,
        retry_after_at=None,
        continued_at=now,
        recent_continues=Case(When(chained, then=F("recent_continues") + 1), default=Value(1)),
        checkpoint_at=now,
        updated_at=now,
    )
    if not taken:
        raise SendError("This answer is already being continued.")
    conversation.save(update_fields=["updated_at"])
    message.refresh_from_db()
    return Sent(conversation, None, message)


def _continuation_turns(answer: Message, *, prefill: bool) -> list[ChatMessage]:
    """What follows the question: the partial answer as the last assistant
    turn (without its trailing whitespace, which some servers refuse in a
    prefill) and, when the server takes no prefill, the instruction."""
    turns = [ChatMessage("assistant", answer.content.rstrip())]
    if not prefill:
        turns.append(ChatMessage("user", CONTINUE_INSTRUCTION))
    return turns


def _continuation_tokens(answer: Message) -> int:
    prefill = model_entry(answer.model).options.prefill
    return sum(estimate_tokens(t.content) for t in _continuation_turns(answer, prefill=prefill))


def _check_continue_fits(answer: Message) -> None:
    """Refuse a Continue the model could not read even with every earlier
    turn left out: the question and the partial answer must fit."""
    assert answer.reply_to is not None  # continue_refusal checked it
    system = system_prompt_of(answer.conversation)
    budget = model_budget(answer.model)
    needed = (
        (estimate_tokens(system) if system else 0)
        + estimate_tokens(answer.reply_to.content)
        + sum(part_tokens(p) for p in stored_parts(answer.reply_to))
        + _continuation_tokens(answer)
    )
    if needed > budget:
        raise SendError(
            f"This answer is too long to continue with this model: about {needed:,} tokens "
            f"with its question, and the model reads {budget:,}. Retry for a new answer, "
            "or ask for the rest in a new message."
        )


def continue_prompt(*, answer: Message) -> list[ChatMessage]:
    """What the model sees to continue ``answer``: the conversation up to the
    question, fitted to the model's context with room left for the partial
    answer, then the continuation turns (``_continuation_turns``)."""
    prefill = model_entry(answer.model).options.prefill
    fitted = selectors.prompt_for(
        answer=answer,
        system=system_prompt_of(answer.conversation),
        budget=model_budget(answer.model) - _continuation_tokens(answer),
        images=accepts_images(model_entry(answer.model)),
    )
    if fitted.dropped != answer.prompt_dropped:
        Message.objects.filter(id=answer.id).update(prompt_dropped=fitted.dropped)
        answer.prompt_dropped = fitted.dropped
    return [*fitted.messages, *_continuation_turns(answer, prefill=prefill)]


def _earlier_metrics(answer: Message) -> RunMetrics:
    """The stored parts' metrics (none for a crash leftover: the run estimates its tokens)."""
    # The message stores each metric under the metric's own name.
    return RunMetrics(**{f.name: getattr(answer, f.name) for f in dataclass_fields(RunMetrics)})


def continue_spec(sent: Sent, accepted_at: float) -> RunSpec:
    answer = sent.assistant_message
    if not answer.content.strip():
        # Stopped while it was still thinking: no answer to continue, so a
        # fresh one (its new thinking replaces the old when it ends).
        return run_spec(sent, accepted_at)
    entry = model_entry(answer.model)
    return RunSpec(
        run_id=str(answer.id),
        user_id=sent.conversation.user_id,
        model=entry.name,
        messages=continue_prompt(answer=answer),
        correlation_id=answer.correlation_id,
        accepted_at=accepted_at,
        max_tokens=entry.options.max_output_tokens,
        resume=Resume(
            text=answer.content,
            metrics=_earlier_metrics(answer),
            verbatim=entry.options.prefill,
            reasoning=answer.reasoning,
            tool_calls=tuple(ToolRecord.from_dict(call) for call in answer.tool_calls or ()),
        ),
        reasoning_effort=requested_effort(entry, sent.conversation.reasoning_effort),
    )


async def amessage_continue(*, message: Message) -> Sent:
    return await committed_then_run(
        lambda: message_continue(message=message), continue_spec, rerun=True
    )
