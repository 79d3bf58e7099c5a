"""A provider for any OpenAI-compatible Chat Completions server.

Works against OpenAI, vLLM, Ollama, llama.cpp, LM Studio, OpenRouter… through the
``openai`` SDK's ``AsyncOpenAI`` (``max_retries=0``: the user decides on Retry).

Contract of ``stream()``, beyond ``base.Provider``:

- Events come in stream order; ``Usage`` (when the server reports it) comes
  before the single, last ``Finish``. A stream that ends or breaks before any
  ``finish_reason`` raises ``ProviderError("stream_broken")`` after the deltas
  already yielded; once a finish reason arrived, trouble while waiting for the
  trailing usage/``[DONE]`` is ignored (for ``TAIL_GRACE_S`` at most).
- A server that stalls mid-stream is not judged here: the consumer's clock
  is (the run's idle timeout, ``SPOOL_IDLE_TIMEOUT_S``, the same for every
  provider), and it closes the iterator.
- Reasoning is read from ``delta.reasoning_content``, ``delta.reasoning``,
  ``delta.reasoning_text`` (one of them per stream, never two) or a leading
  ``<think>…</think>`` in the content (tags may be cut across chunks), and
  never mixed into ``TextDelta``: ``think.ReasoningParser``. Text it holds
  back is released before a broken stream's ``ProviderError``, not only at
  the finish, and by ``release()`` (``HoldsBack``) when the run closes the
  stream first (its idle timeout).
- Tool-call arguments are buffered by index and parsed when the turn finishes
  with ``tool_calls`` (or with ``stop`` while calls are pending, as some
  servers do); then the finish reason is reported as ``tool_calls``.
  Arguments that are not a JSON object come as the text sent (the run
  answers the call with an error for the model); a call without a name
  breaks the stream.
- Closing the iterator (``aclose()`` or cancelling the consuming task) closes
  the HTTP response at once, so the server sees the hang-up.
- Usage is asked for with ``stream_options.include_usage`` unless the model's
  options turn it off; a server that refuses the field with a 400 naming it is
  asked again without it, once, and never again by this provider.
- Prefill (Continue): messages that end with an assistant message ask the
  model to continue that text. Servers say so differently (``PrefillStyle``);
  the provider is built with its server's, or None when it takes none (then
  Spool sends an instruction to continue instead, and never a final
  assistant message).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never, cast

import openai
from openai.types.chat import (
    ChatCompletionChunk,
    ChatCompletionContentPartParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)
from openai.types.shared_params import FunctionDefinition

from streaming.providers import errors
from streaming.providers.base import (
    ChatMessage,
    ContentPart,
    FilePart,
    Finish,
    ImagePart,
    ProviderError,
    ProviderEvent,
    ReasoningEffort,
    ToolCall,
    ToolSpec,
    Usage,
)
from streaming.providers.think import ReasoningParser

logger = logging.getLogger(__name__)

# A server that is up accepts a connection in milliseconds; waiting longer only
# delays the "can't reach the model server" message.
CONNECT_TIMEOUT_S = 10.0
# From sending the request to the response headers. Busy servers queue requests
# and llama.cpp may process a long prompt before answering, so be generous.
DEFAULT_TIMEOUT_S = 120.0
# After finish_reason only usage and [DONE] are left; don't keep the user
# waiting a full idle timeout for them.
TAIL_GRACE_S = 5.0
# The SDK refuses an empty key; keyless local servers (Ollama, llama.cpp) ignore it.
PLACEHOLDER_API_KEY = "not-needed"

# How a server is told to continue a final assistant message: "plain" needs
# nothing (llama.cpp, Ollama), "vllm" its continue_final_message flag (its chat
# template would otherwise close the turn), "prefix" the message's
# ``"prefix": true`` (DeepSeek, Mistral).
PrefillStyle = Literal["plain", "vllm", "prefix"]


class OpenAICompatProvider:
    """``stream()`` chat completions from ``base_url`` (e.g. ``https://api.openai.com/v1``).

    ``timeout`` bounds the wait for the response headers (``ProviderError("timeout")``);
    the wait for each chunk after that is the consumer's (the run's idle timeout).
    ``include_usage`` asks for token usage (``stream_options``), ``extra_body``
    is merged into every request body (server-specific fields), and
    ``max_tokens_field`` names the output cap's field.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        name: str = "openai",
        timeout: float = DEFAULT_TIMEOUT_S,
        include_usage: bool = True,
        extra_body: Mapping[str, Any] | None = None,
        max_tokens_field: str = "max_tokens",
        prefill: PrefillStyle | None = None,
    ) -> None:
        self.name = name
        self.prefill = prefill
        self.base_url = base_url
        self._api_key = api_key or PLACEHOLDER_API_KEY
        self._timeout = timeout
        self.include_usage = include_usage
        self._extra_body = dict(extra_body or {})
        self._max_tokens_field = max_tokens_field
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        model: str,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int | None = None,
        reasoning_effort: ReasoningEffort | None = None,
    ) -> AsyncIterator[ProviderEvent]:
        turn = _Turn()
        effort = reasoning_effort
        events = self._stream(turn, list(messages), model, list(tools), max_tokens, effort)
        return _TurnStream(turn, events)

    async def aclose(self) -> None:
        """Close the pooled connections (on shutdown; the provider stays usable)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _client_for_loop(self) -> openai.AsyncOpenAI:
        """One SDK client per event loop: pooled connections belong to the loop
        that opened them (tests run a loop per test; the registry caches us)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is None or self._client_loop() is not loop:
            # Our header timer bounds everything up to the response headers,
            # the run's idle timeout every read after them: an SDK read
            # timeout would only fire first, with another message.
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                max_retries=0,
                timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT_S),
            )
            self._client_loop = weakref.ref(loop)
        return self._client

    async def _stream(
        self,
        turn: _Turn,
        messages: list[ChatMessage],
        model: str,
        tools: list[ToolSpec],
        max_tokens: int | None,
        reasoning_effort: ReasoningEffort | None = None,
    ) -> AsyncGenerator[ProviderEvent]:
        client = self._client_for_loop()
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = [_tool_param(t) for t in tools]
        if max_tokens is not None:
            # ``max_tokens`` by default: every compatible server knows it (OpenAI's
            # reasoning models alone want ``max_completion_tokens``).
            extra[self._max_tokens_field] = max_tokens
        if reasoning_effort is not None:
            # Chat Completions' own field (OpenAI, vLLM, Ollama, OpenRouter).
            extra["reasoning_effort"] = reasoning_effort
        extra_body = dict(self._extra_body or {})
        params = [_message_param(m) for m in messages]
        if messages and messages[-1].role == "assistant" and self.prefill is not None:
            if self.prefill == "vllm":
                # vLLM's template would otherwise close the turn and open a new one.
                extra_body.update(continue_final_message=True, add_generation_prompt=False)
            elif self.prefill == "prefix":
                # A field OpenAI's own types do not know: the server's extension.
                params[-1] = cast(ChatCompletionMessageParam, {**params[-1], "prefix": True})
        if extra_body:
            extra["extra_body"] = extra_body
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    chunks = await self._create(client, model, params, extra)
                except openai.BadRequestError as exc:
                    if not (self.include_usage and "stream_options" in str(exc)):
                        raise
                    # The server refuses the usage request: ask again without
                    # it (nothing was streamed yet), and never ask it again.
                    logger.warning("%s refuses stream_options; usage turned off", self.base_url)
                    self.include_usage = False
                    chunks = await self._create(client, model, params, extra)
        except TimeoutError as exc:
            raise errors.request_timeout(self._timeout) from exc
        except openai.OpenAIError as exc:
            raise errors.from_openai_error(exc, model=model, streaming=False) from exc

        try:
            async with chunks:  # closes the HTTP response on every exit, cancel included
                while True:
                    finished = turn.finish_reason is not None
                    try:
                        # Before the finish reason a stall is the run's to time out.
                        async with asyncio.timeout(TAIL_GRACE_S if finished else None):
                            chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        break  # only after the finish reason: usage and [DONE] are late
                    except openai.OpenAIError as exc:
                        if finished:
                            break
                        raise errors.from_openai_error(exc, model=model, streaming=True) from exc
                    except ValueError as exc:  # a chunk that is not JSON
                        raise errors.broken_stream(f"undecodable chunk: {exc}") from exc
                    for event in turn.feed(chunk):
                        yield event
            if turn.finish_reason is None:
                raise errors.broken_stream("stream ended without a finish_reason")
        except ProviderError:
            # A broken stream: what the reasoning parser held back was received,
            # so it is kept (an unclosed <think> as reasoning) before the error.
            for event in turn.flush():
                yield event
            raise
        yield Finish(turn.finish_reason)

    async def _create(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        params: list[ChatCompletionMessageParam],
        extra: dict[str, Any],
    ) -> openai.AsyncStream[ChatCompletionChunk]:
        if self.include_usage:
            extra = {**extra, "stream_options": {"include_usage": True}}
        stream: openai.AsyncStream[ChatCompletionChunk] = await client.chat.completions.create(
            model=model, messages=params, stream=True, **extra
        )
        return stream


class _TurnStream:
    """One request's events, whose turn stays reachable after the run closes
    the stream: ``release()`` gives up the text its reasoning parser holds
    (a cancelled generator can no longer yield it)."""

    def __init__(self, turn: _Turn, events: AsyncGenerator[ProviderEvent]) -> None:
        self._turn = turn
        self._events = events

    def __aiter__(self) -> _TurnStream:
        return self

    async def __anext__(self) -> ProviderEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    def release(self) -> list[ProviderEvent]:
        return self._turn.flush()


@dataclass
class _PendingToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Turn:
    """Folds chunks into provider events; holds what must wait for the finish."""

    finish_reason: str | None = None
    tool_calls: dict[int, _PendingToolCall] = field(default_factory=dict)
    reasoning: ReasoningParser = field(default_factory=ReasoningParser)

    def feed(self, chunk: ChatCompletionChunk) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue  # we never ask for n > 1
            delta = choice.delta
            events.extend(self.reasoning.feed(delta.model_extra or {}, delta.content))
            for part in delta.tool_calls or ():
                pending = self.tool_calls.setdefault(part.index, _PendingToolCall())
                pending.id = part.id or pending.id
                if part.function is not None:
                    pending.name = part.function.name or pending.name
                    pending.arguments.append(part.function.arguments or "")
            if choice.finish_reason is not None:
                events.extend(self._finish(choice.finish_reason))
        if chunk.usage is not None:
            details = chunk.usage.completion_tokens_details
            thought = details.reasoning_tokens if details is not None else None
            events.append(Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, thought))
        return events

    def flush(self) -> list[ProviderEvent]:
        """Text the reasoning parser holds back, released (the stream ended or broke)."""
        return self.reasoning.flush()

    def _finish(self, reason: str) -> list[ProviderEvent]:
        events = self.reasoning.flush()
        if self.tool_calls and reason in ("tool_calls", "stop"):
            reason = "tool_calls"
            events.extend(_parse_tool_call(i, c) for i, c in sorted(self.tool_calls.items()))
        self.tool_calls.clear()
        self.finish_reason = reason
        return events


def _parse_tool_call(index: int, call: _PendingToolCall) -> ToolCall:
    raw = "".join(call.arguments).strip() or "{}"
    if not call.name:
        # Nothing can answer a call without a name: the turn is broken.
        raise errors.bad_tool_call(f"a tool call without a name: arguments {raw[:200]!r}")
    try:
        arguments = json.loads(raw)
    except ValueError:
        arguments = None
    # Not a JSON object: kept as sent, so the run can tell the model what was wrong.
    kept = arguments if isinstance(arguments, dict) else raw
    return ToolCall(call.id or f"call_{index}", call.name, kept)


def _message_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        if message.parts:
            return {"role": "user", "content": _content_parts(message)}
        return {"role": "user", "content": message.content}
    if message.role == "tool":
        return {
            "role": "tool",
            "content": message.content,
            "tool_call_id": message.tool_call_id or "",
        }
    if not message.tool_calls:
        return {"role": "assistant", "content": message.content}
    calls: list[ChatCompletionMessageFunctionToolCallParam] = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": c.arguments_json},
        }
        for c in message.tool_calls
    ]
    if message.content:  # some servers reject an empty text part next to tool calls
        return {"role": "assistant", "content": message.content, "tool_calls": calls}
    return {"role": "assistant", "tool_calls": calls}


def _content_parts(message: ChatMessage) -> list[ChatCompletionContentPartParam]:
    """The text, then each attachment: images as ``image_url`` parts (data
    URLs), files as text parts under their name."""
    parts: list[ChatCompletionContentPartParam] = []
    if message.content:  # an image alone is a whole question
        parts.append({"type": "text", "text": message.content})
    parts.extend(_content_part(p) for p in message.parts)
    return parts


def _content_part(part: ContentPart) -> ChatCompletionContentPartParam:
    match part:
        case ImagePart():
            return {"type": "image_url", "image_url": {"url": part.data_url}}
        case FilePart():
            return {"type": "text", "text": part.as_prompt()}
        case _:
            assert_never(part)


def _tool_param(tool: ToolSpec) -> ChatCompletionFunctionToolParam:
    function: FunctionDefinition = {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
    }
    return {"type": "function", "function": function}
