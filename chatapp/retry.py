"""What an unfinished answer offers: Retry now, Retry after a wait, or what to do instead.

The rule and its words live here, in one place. The footer shows
``Message.retry_offer`` (templates/chat/_message_footer.html); the retry
service refuses exactly what the footer does not offer (``refusal``), so a
stale page or a hand-made POST gets a 422 that says why. static/js/spool.js
counts the wait down on the page and formats it as ``wait_text`` does.

The provider decides (streaming/providers/errors.py): ``retryable`` False means
pressing Retry cannot help (bad key, unknown model, prompt too long…), and a
Retry-After keeps Retry closed until ``Message.retry_after_at``.

Continue follows the same word for a failed answer: offered (beside Retry,
before it) when the failure was transient and some of the answer was
written, closed with Retry until the wait is over, refused like Retry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from streaming.status import RunStatus

if TYPE_CHECKING:
    from chatapp.models import Message

# Counting seconds past this is noise: longer waits are shown in whole minutes
# (static/js/spool.js uses the same threshold).
MINUTES_FROM_S = 120

CONFIGURATION = "An administrator needs to fix the model's configuration."
# What to do instead of Retry, by the codes errors.py gives failures that Retry
# cannot fix. A non-retryable rate_limit is the provider's spent quota.
NEXT_STEPS: dict[str, str] = {
    "auth": CONFIGURATION,
    "rate_limit": "An administrator needs to check the model provider's account and billing.",
    "not_found": "This model is not available: start a new conversation with another model.",
    "context_length": "Start a new conversation, or send a shorter message.",
    "bad_request": "Ask again in other words, or start a new conversation.",
}
# An error nobody classified: the logs say more (correlation id in the admin).
DEFAULT_NEXT_STEP = "This will not fix itself. An administrator can find the details in the logs."


@dataclass(frozen=True, slots=True)
class RetryOffer:
    """What the footer of one answer offers.

    ``shown``: a Retry button is there. ``wait_s``: whole seconds before it may
    be pressed (0: now); the button is disabled while it is above 0.
    ``next_step``: when Retry cannot help, what to do instead ("" otherwise).
    ``action``: the button's word (Continue waits the same way: ``continue_offer``).
    """

    shown: bool
    wait_s: int = 0
    next_step: str = ""
    action: str = "Retry"

    @property
    def label(self) -> str:
        return f"{self.action} in {wait_text(self.wait_s)}" if self.wait_s else self.action


NO_OFFER = RetryOffer(shown=False)


def wait_text(seconds: int) -> str:
    """``24 s`` below ``MINUTES_FROM_S``, else whole minutes rounded up (``3 min``)."""
    if seconds < MINUTES_FROM_S:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"


def next_step(error_code: str) -> str:
    return NEXT_STEPS.get(error_code, DEFAULT_NEXT_STEP)


def seconds_left(retry_after_at: datetime | None, now: datetime) -> int:
    """Whole seconds until ``retry_after_at``, rounded up (never early), 0 if past."""
    if retry_after_at is None:
        return 0
    return max(0, math.ceil((retry_after_at - now).total_seconds()))


def offer_for(message: Message, now: datetime | None = None) -> RetryOffer:
    """The offer for ``message`` at ``now`` (default: the current time).

    A complete or still-streaming answer, or a user message, offers nothing. A
    stopped, truncated or interrupted one offers Retry at once.
    """
    if not message.is_assistant or message.is_live or message.status == RunStatus.COMPLETE:
        return NO_OFFER
    if not message.error_retryable:
        return RetryOffer(shown=False, next_step=next_step(message.error_code))
    return RetryOffer(
        shown=True, wait_s=seconds_left(message.retry_after_at, now or timezone.now())
    )


# Continue streams more into the same answer (docs/streaming.md, Continue):
# offered where the answer was cut, or where it failed for a reason that may
# pass (``error_retryable``: a dropped connection, a 5xx, a stall, a rate
# limit), not where the model finished or cannot be helped by asking again.
CONTINUABLE = frozenset({RunStatus.STOPPED, RunStatus.INTERRUPTED, RunStatus.TRUNCATED})


def _continuable_status(message: Message) -> bool:
    if message.status in CONTINUABLE:
        return True
    return message.status == RunStatus.FAILED and message.error_retryable


def continue_offered(message: Message) -> bool:
    """Continue is shown (enabled, or disabled while the model's wait runs:
    ``continue_offer``)."""
    return (
        message.is_assistant
        and _continuable_status(message)
        # Stopped (or failed) while thinking: Continue starts the answer afresh.
        and bool(message.content.strip() or message.reasoning.strip())
        and message.reply_to_id is not None
    )


def continue_offer(message: Message, now: datetime | None = None) -> RetryOffer:
    """Continue now, after the model's wait (a failure's Retry-After, the same
    as Retry's), or not at all."""
    if not continue_offered(message):
        return NO_OFFER
    wait = seconds_left(message.retry_after_at, now or timezone.now())
    return RetryOffer(shown=True, wait_s=wait, action="Continue")


def continue_refusal(message: Message, now: datetime | None = None) -> str | None:
    """Why Continue is refused for ``message``, or None (exactly where the
    footer shows no Continue, or a disabled one)."""
    if message.is_live:
        return "This answer is still being written."
    if message.status == RunStatus.FAILED and not message.error_retryable:
        # What the footer says to do instead, as for Retry.
        return next_step(message.error_code)
    if not continue_offered(message):
        return (
            "Only a stopped, interrupted or cut-short answer, or one that failed "
            "for a passing reason, can be continued."
        )
    wait = seconds_left(message.retry_after_at, now or timezone.now())
    if wait:
        return f"The model asked to wait: Continue in {wait_text(wait)}."
    return None


def refusal(message: Message, now: datetime | None = None) -> str | None:
    """Why what the provider said forbids a retry of ``message`` now, or None.

    Exactly the cases where the footer shows no Retry, or a disabled one.
    """
    if not message.error_retryable:
        return next_step(message.error_code)
    wait = seconds_left(message.retry_after_at, now or timezone.now())
    if wait:
        return f"The model asked to wait: Retry in {wait_text(wait)}."
    return None
