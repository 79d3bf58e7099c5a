"""What of a conversation fits a model's context: a token budget, estimated safely.

No tokenizer: models differ, and a wrong one is worse than a cautious count.
The estimate is one token per 3 bytes of UTF-8, plus a few tokens of framing
per message. Real tokenizers average about 4 characters of English per token
and one token per CJK character (3 bytes), so the estimate runs high, never
low: a prompt it accepts fits.

Attachments count too: a file's text like any text, an image by its pixels
(``part_tokens``).

The rules: the system prompt and the latest user turn are always kept; older
turns are dropped oldest first, a user message with its answer together, so
the model never sees an answer without its question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streaming.providers.base import ChatMessage, ContentPart, FilePart, ImagePart

BYTES_PER_TOKEN = 3
# Role markers and separators each chat template adds around a message.
FRAMING_TOKENS = 4
# An image costs a token per 28 x 28 pixel patch with Qwen-VL, the costliest
# of the common schemes (OpenAI's tiles and Anthropic's w*h/750 come lower),
# so the estimate runs high for every model: 2048 x 1536 is ~4,000 tokens.
IMAGE_PATCH_PX = 28


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN) + FRAMING_TOKENS


def part_tokens(part: ContentPart) -> int:
    if isinstance(part, ImagePart):
        patches = -(-part.width // IMAGE_PATCH_PX) * -(-part.height // IMAGE_PATCH_PX)
        return patches + FRAMING_TOKENS
    assert isinstance(part, FilePart)
    return estimate_tokens(part.as_prompt())


def message_tokens(message: ChatMessage) -> int:
    """A message with its attachments."""
    return estimate_tokens(message.content) + sum(part_tokens(p) for p in message.parts)


def prompt_budget(*, context_window: int, max_output_tokens: int) -> int:
    """Tokens a prompt may take: what the model reads, minus room to answer."""
    return max(0, context_window - max_output_tokens)


@dataclass(frozen=True, slots=True)
class Fitted:
    messages: list[ChatMessage]
    dropped: int  # earlier messages left out
    tokens: int  # the estimate of what is kept


class TooLong(Exception):
    """The system prompt and the latest turn alone do not fit."""

    def __init__(self, needed: int, budget: int) -> None:
        super().__init__(f"needs ~{needed} tokens, the budget is {budget}")
        self.needed = needed
        self.budget = budget


def fit(*, system: str, history: Sequence[ChatMessage], latest: ChatMessage, budget: int) -> Fitted:
    """The prompt: ``system`` (if any), as much of ``history`` as fits, ``latest``.

    ``history`` alternates user turns and their answers, oldest first; it is
    cut at user messages only.
    """
    head = [ChatMessage("system", system)] if system else []
    fixed = sum(estimate_tokens(m.content) for m in head) + message_tokens(latest)
    if fixed > budget:
        raise TooLong(fixed, budget)
    kept_from = len(history)
    used = fixed
    # Walk back a whole turn (a user message and what follows it) at a time.
    for start in reversed([i for i, m in enumerate(history) if m.role == "user"]):
        turn = sum(message_tokens(m) for m in history[start:kept_from])
        if used + turn > budget:
            break
        used += turn
        kept_from = start
    kept = list(history[kept_from:])
    return Fitted([*head, *kept, latest], dropped=kept_from, tokens=used)
