"""A conversation's title, proposed by the model beside its first answer.

The app asks for it by giving the first answer's spec a ``TitleJob`` (the
question). The run starts a ``TitleRequest`` with its own provider as it
starts (one request of its own, concurrent with the answer), and before its
``final`` event takes the result: waiting at most ``TITLE_WAIT_S`` after an
answer that ended normally, not at all after a Stop, an interruption or a
failure. A title request that fails, times out or proposes nothing gives
``None``: the conversation keeps its fallback (its first words) and the
answer is never affected.

Contract of ``TitleRequest``: its task belongs to it (never fire-and-forget):
``result`` returns the title or ``None`` and never raises; a request still
running when ``result`` gives up is cancelled and awaited there, which closes
the provider's stream (the model server sees the hang-up).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Final

from streaming.providers.base import ChatMessage, Provider, ReasoningEffort, TextDelta
from streaming.status import FinalStatus, RunStatus

logger = logging.getLogger(__name__)

# The prompt of the title request. Providers may recognise it (the demo model
# makes its title from the question without a model).
TITLE_INSTRUCTION = (
    "Write a short title for the conversation that starts with the user's next "
    "message: three to six words, in the language of the message, no quotes, no "
    "final punctuation. Reply with the title only."
)
# A title is a handful of words; a model that rambles is cut off here.
TITLE_MAX_TOKENS = 24
# A reasoning model thinks before it writes, and its thinking is output
# tokens: with the allowance above it ends before the first word of a title.
# It is asked to think little and given room to (its thinking is read and
# dropped: only the reply's text is the title).
REASONING_TITLE_MAX_TOKENS = 512
REASONING_TITLE_EFFORT: Final[ReasoningEffort] = "low"
# Only the start of a long question is sent: enough to name it, cheap to read.
QUESTION_CHARS = 2000
# As long as the list shows (the first-words fallback's length).
TITLE_CHARS = 80
# Read at most this much of the reply: a title is short, a model that answers
# the question instead is hung up on.
REPLY_CHARS = 400
# After an answer that ended normally, the run waits this long for the title
# before its final event. A title request is a few tokens and started with the
# answer, so it is almost always done by then; a slower one is given up (the
# fallback stays) rather than holding the answer's end.
TITLE_WAIT_S = 3.0

_PREFIX = re.compile(r"^(title|titre|titel|título)\s*:\s*", re.IGNORECASE)
# Quotes (straight, curly, guillemets) and markdown marks around a title.
_WRAPPERS = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb`*_#"


@dataclass(frozen=True, slots=True)
class TitleJob:
    """Propose a title for the conversation ``question`` starts; ``reasoning``:
    the model is configured as a reasoning model (it thinks before it writes)."""

    question: str
    reasoning: bool = False

    @property
    def max_tokens(self) -> int:
        return REASONING_TITLE_MAX_TOKENS if self.reasoning else TITLE_MAX_TOKENS

    @property
    def reasoning_effort(self) -> ReasoningEffort | None:
        """Low for a reasoning model, whatever effort the conversation asks of
        its answers (a title is worth little thought); None (nothing sent) else."""
        return REASONING_TITLE_EFFORT if self.reasoning else None

    def messages(self) -> list[ChatMessage]:
        return [
            ChatMessage("system", TITLE_INSTRUCTION),
            ChatMessage("user", self.question[:QUESTION_CHARS]),
        ]


def clean_title(reply: str) -> str | None:
    """The title in a model's reply: its first non-empty line without a
    "Title:" prefix, quotes, markdown marks or final full stop, whitespace
    collapsed, at most ``TITLE_CHARS`` long; None when nothing is left."""
    line = next((line for line in reply.splitlines() if line.strip()), "")
    line = _PREFIX.sub("", " ".join(line.split()))
    line = line.strip(_WRAPPERS + " ").rstrip(".").strip(_WRAPPERS + " ")
    if not line:
        return None
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


async def propose_title(job: TitleJob, provider: Provider, *, model: str) -> str | None:
    """Ask ``provider`` for a title; None on any failure (logged, never raised)."""
    reply = ""
    try:
        stream = provider.stream(
            messages=job.messages(),
            model=model,
            max_tokens=job.max_tokens,
            reasoning_effort=job.reasoning_effort,
        )
        try:
            async for event in stream:
                # Only the text: thinking (``ReasoningDelta``) is never the title.
                if isinstance(event, TextDelta):
                    reply += event.text
                    if len(reply) >= REPLY_CHARS:
                        break
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    except Exception as exc:
        # The fallback title stays; the answer is not this request's business.
        logger.warning("title request failed: %r", exc)
        return None
    return clean_title(reply)


class TitleRequest:
    """The title request of one run, running beside its answer."""

    def __init__(self, job: TitleJob, provider: Provider, *, model: str, name: str) -> None:
        self._task = asyncio.create_task(propose_title(job, provider, model=model), name=name)

    async def result(self, wait_s: float) -> str | None:
        """The title if it is ready within ``wait_s`` seconds (0: only if
        ready now); otherwise the request is cancelled and None returned."""
        if not self._task.done() and wait_s > 0:
            await asyncio.wait({self._task}, timeout=wait_s)
        if not self._task.done():
            await self.cancel()
            return None
        return None if self._task.cancelled() else self._task.result()

    async def cancel(self) -> None:
        """Stop the request (if still running) and wait until it has let go."""
        self._task.cancel()
        # asyncio.wait, not ``await task``: the cancelled task's CancelledError
        # must not be confused with one aimed at the caller.
        await asyncio.wait({self._task})


# The answers that ended as they should: their title is worth a short wait.
_WAITED_FOR: Final = frozenset({RunStatus.COMPLETE, RunStatus.TRUNCATED})


async def settle(request: TitleRequest | None, status: FinalStatus) -> str | None:
    """The run's title at its end: waited for after an answer that ended
    normally (``complete``, ``truncated``), taken only if ready otherwise."""
    if request is None:
        return None
    return await request.result(TITLE_WAIT_S if status in _WAITED_FOR else 0)
