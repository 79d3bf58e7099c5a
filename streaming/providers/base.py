"""The provider contract: what every model backend yields to a run.

A provider turns a list of chat messages into an async stream of
``ProviderEvent`` values. Contract:

- ``stream()`` returns an async iterator; the run consumes it in its own task.
- Cancellation is the stop signal. When the consuming task is cancelled (Stop,
  detach grace expired, budget hit) the iterator is closed with ``aclose()``,
  and the provider must release the upstream connection at once so the model
  server sees the hang-up. Async generators with ``async with`` around the HTTP
  response give exactly that.
- Failures are raised as ``ProviderError`` with a stable ``code`` and a message
  a user can act on; anything else escaping a provider is a bug and is reported
  as ``code="internal"`` by the run.
- A stream that holds received text back (a ``</think`` tag cut across
  chunks) may offer ``release()`` (``HoldsBack``): the run takes that text when
  it closes the stream before its end (idle timeout, wall clock, detach), so
  nothing received is lost.
- Reasoning (a thinking model's thoughts) comes as ``ReasoningDelta``, never
  inside ``TextDelta``; ``reasoning_effort`` asks a reasoning model for more
  or less of it (None: the server's default, and nothing is sent).
- Tool-call arguments are delivered whole (``ToolCall.arguments`` parsed), never
  as fragments; a provider buffers them until the model finishes the call.
  Arguments that are not a JSON object stay the text the model sent: the
  run answers the call with an error the model can act on, never fails.
- A user message may carry attachments as ``parts`` after its text: images as
  data URLs, files as text under their name. A provider sends them as content
  parts (OpenAI: ``image_url`` and ``text``); which models may get images is
  the app's decision, made before the run starts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image attached to a user message, ready for the wire.

    ``data_url`` is what the model gets (``data:image/png;base64,…``); the rest
    describes the file for providers that report what arrived (the demo
    model) and is never sent."""

    data_url: str
    name: str
    media_type: str
    size: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class FilePart:
    """A text-like file (or a PDF's text) attached to a user message: the model
    reads ``text`` under the file's ``name``. ``note`` says what the text lacks
    (a PDF with no text layer), for the model and the demo model alike."""

    name: str
    media_type: str
    size: int
    text: str
    note: str = ""

    def as_prompt(self) -> str:
        """The part as the model reads it: the file framed by its name."""
        body = self.text if self.text else f"({self.note or 'no text'})"
        return f'<file name="{self.name}">\n{body}\n</file>'


ContentPart = ImagePart | FilePart


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One prompt message. For the tool loop, an assistant turn that called tools
    carries them in ``tool_calls`` and each result is a ``tool`` message with the
    ``tool_call_id`` it answers (OpenAI rejects a tool message without one).
    A user message's attachments follow its text as ``parts``."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    parts: tuple[ContentPart, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model (OpenAI function-calling shape)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model made: ``arguments`` parsed, or the raw text when it
    is not a JSON object (the tool registry turns that into an error text)."""

    id: str
    name: str
    arguments: dict[str, Any] | str

    @property
    def arguments_json(self) -> str:
        """The arguments as the wire carries them back to the model."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None  # the reasoning's included, as servers count them
    reasoning_tokens: int | None = None  # usage.completion_tokens_details, when sent


@dataclass(frozen=True, slots=True)
class Finish:
    """The model ended its turn: ``stop``, ``length``, ``tool_calls``, ``content_filter``."""

    reason: str


# Reasoning efforts a model configured as a reasoning model may be asked for.
ReasoningEffort = Literal["low", "medium", "high"]

ProviderEvent = TextDelta | ReasoningDelta | ToolCall | Usage | Finish

ErrorCode = Literal[
    "auth",
    "rate_limit",
    "context_length",
    "bad_request",
    "not_found",
    "upstream_down",
    "timeout",
    "stream_broken",
    "internal",
]


@dataclass(slots=True)
class ProviderError(Exception):
    """A failure the user can act on.

    ``message`` is safe to show (no keys, no stack traces); ``retryable`` says
    whether pressing Retry may help; ``retry_after`` is seconds, when known.
    """

    code: ErrorCode
    message: str
    retryable: bool = False
    retry_after: float | None = None
    detail: str = field(default="", repr=False)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Provider(Protocol):
    """A model backend. ``name`` is shown in the UI next to the model."""

    name: str

    def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        model: str,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int | None = None,
        reasoning_effort: ReasoningEffort | None = None,
    ) -> AsyncIterator[ProviderEvent]: ...


@runtime_checkable
class HoldsBack(Protocol):
    """A provider stream that may hold received text back until the next chunk
    decides it (a possible ``</think>`` tag)."""

    def release(self) -> list[ProviderEvent]:
        """What is held, as events (an unclosed ``<think>`` is reasoning); then nothing."""
        ...
