"""One parser for a model's reasoning, whichever way its server spells it.

OpenAI-compatible servers send a reasoning model's thinking in one of three
delta fields, ``reasoning_content`` (DeepSeek, llama.cpp, LM Studio, older
vLLM), ``reasoning`` (Ollama, vLLM >= 0.11, OpenRouter) or ``reasoning_text``,
or, served without a reasoning parser, as ``<think>…</think>`` at the start
of the content. ``ReasoningParser`` turns every chunk's delta into
``ReasoningDelta`` and ``TextDelta`` values so that the answer never holds
reasoning and the reasoning never holds answer:

- The first reasoning field a stream uses is the only one read from then on:
  some servers send the same text under two names, and reading both would
  double it.
- A ``<think>`` tag may be cut anywhere across chunks (``<thi`` + ``nk>``):
  a possible tag prefix is held back until the next chunk decides it.
- ``flush()`` releases what is held: an unclosed ``<think>`` is reasoning
  (the model was cut off while thinking), anything else is answer. The
  provider flushes at the finish *and* when the stream breaks, and the run
  takes it when it closes the stream first (``HoldsBack``), so no held text
  is ever lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from streaming.providers.base import ProviderEvent, ReasoningDelta, TextDelta

# In the order they are tried on a stream's first reasoning chunk.
REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_text")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

_State = Literal["start", "thinking", "after_think", "answer"]


class ReasoningParser:
    """Splits one stream's deltas into reasoning and answer (a small state machine)."""

    def __init__(self) -> None:
        self.field: str | None = None  # the reasoning field this stream uses, once seen
        self._think = ThinkSplitter()

    def feed(self, fields: Mapping[str, Any], content: str | None) -> list[ProviderEvent]:
        """The events of one delta: ``fields`` are its extra (non-OpenAI) fields."""
        events: list[ProviderEvent] = []
        if reasoning := self._reasoning(fields):
            events.append(ReasoningDelta(reasoning))
        if content:
            events.extend(self._think.feed(content))
        return events

    def flush(self) -> list[ProviderEvent]:
        return self._think.flush()

    def _reasoning(self, fields: Mapping[str, Any]) -> str:
        if self.field is not None:
            value = fields.get(self.field)
            return value if isinstance(value, str) else ""
        for name in REASONING_FIELDS:
            value = fields.get(name)
            if isinstance(value, str) and value:
                self.field = name
                return value
        return ""


class ThinkSplitter:
    """Routes a leading ``<think>…</think>`` in the content to reasoning.

    States: start → thinking → after_think → answer, or start → answer.
    Whitespace before ``<think>`` and between ``</think>`` and the answer is
    dropped (templates put newlines there).
    """

    def __init__(self) -> None:
        self._state: _State = "start"
        self._held = ""

    def feed(self, text: str) -> list[ProviderEvent]:
        if self._state == "answer":
            return [TextDelta(text)]
        if self._state == "after_think":
            text = text.lstrip()
            if not text:
                return []
            self._state = "answer"
            return [TextDelta(text)]
        self._held += text
        if self._state == "start":
            stripped = self._held.lstrip()
            if THINK_OPEN.startswith(stripped):
                return []  # only whitespace or a tag prefix so far
            if not stripped.startswith(THINK_OPEN):
                self._state = "answer"
                return self._release(TextDelta)
            self._state, self._held = "thinking", stripped[len(THINK_OPEN) :]
        end = self._held.find(THINK_CLOSE)
        if end >= 0:
            thought, rest = self._held[:end], self._held[end + len(THINK_CLOSE) :]
            self._state, self._held = "after_think", ""
            return ([ReasoningDelta(thought)] if thought else []) + self.feed(rest)
        keep = len(self._held) - partial_tag_suffix(self._held, THINK_CLOSE)
        thought, self._held = self._held[:keep], self._held[keep:]
        return [ReasoningDelta(thought)] if thought else []

    def flush(self) -> list[ProviderEvent]:
        kind = ReasoningDelta if self._state == "thinking" else TextDelta
        self._state = "answer"
        return self._release(kind)

    def _release(self, kind: type[TextDelta] | type[ReasoningDelta]) -> list[ProviderEvent]:
        held, self._held = self._held, ""
        return [kind(held)] if held else []


def partial_tag_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
