"""Scripts for the fake OpenAI server: what one chat completion request gets back.

A ``Script`` is an immutable list of steps played in order against one request.
Streaming steps produce ``chat.completion.chunk`` events; ``HttpError`` replaces
the whole response and must be the only step. After the last step the server
sends ``data: [DONE]`` and ends the body cleanly, unless a step ended the
connection itself (``AbruptClose``) — exactly what a real server does.

Build scripts with the class methods and chain ``then_*`` to add steps::

    Script.text("Hello **world**", chunk_size=3, delay=0.02)
    Script.text("Partial", finish=None).then_stall(5)
    Script.http_error(429, "Slow down", headers={"retry-after": "7"})
    Script.continuation(WHOLE_ANSWER, repeat_words=3)  # for Continue

A ``Continuation`` step depends on the request: it is resolved against the
request's last assistant message (the partial answer) into ``Text``, as a
model asked to continue would answer (``Script.resolved``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Small enough that even short test texts arrive in several chunks, as real
# models stream a few characters (one token) at a time.
DEFAULT_CHUNK_SIZE = 4
# Pieces a tool call's JSON arguments are split into: real servers stream the
# arguments a token at a time, so a client that parses early breaks.
DEFAULT_ARGUMENT_PIECES = 3


@dataclass(frozen=True, slots=True)
class Text:
    """Stream ``text`` as ``delta.content`` in ``chunk_size`` pieces, ``delay`` s apart."""

    text: str
    chunk_size: int = DEFAULT_CHUNK_SIZE
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Continuation:
    """The rest of ``text`` after the request's partial answer (its last
    assistant message, a prefix of ``text``), streamed like ``Text``.

    ``repeat_words``: the model starts over that many words before the cut
    (the cut word counts), as models asked to continue often do; 0 starts
    exactly at the cut, even inside a word. ``strip_leading``: the reply
    starts without whitespace, as a new chat turn does.
    """

    text: str
    repeat_words: int = 0
    strip_leading: bool = True
    chunk_size: int = DEFAULT_CHUNK_SIZE
    delay: float = 0.0

    def resolve(self, body: Any) -> Text:
        partial = last_text(body, role="assistant")
        agree = 0
        for a, b in zip(self.text, partial, strict=False):
            if a != b:
                break
            agree += 1
        start = agree
        if self.repeat_words:
            starts = [m.start() for m in re.finditer(r"\S+", self.text[:agree])]
            if starts:
                start = starts[-min(self.repeat_words, len(starts))]
        rest = self.text[start:]
        if self.strip_leading:
            rest = rest.lstrip()
        return Text(rest, self.chunk_size, self.delay)


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Stream ``text`` as ``delta.<field>`` (``reasoning_content``, ``reasoning`` or
    ``reasoning_text``); ``also``: a second field sent with the same text in every
    chunk, as some servers do (a client must read one of them only)."""

    text: str
    chunk_size: int = DEFAULT_CHUNK_SIZE
    delay: float = 0.0
    field: str = "reasoning_content"
    also: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """Stream one tool call: id+name first, then ``arguments`` split in ``pieces``.

    ``arguments`` is sent verbatim (a string), so a script can send broken JSON.
    """

    name: str
    arguments: str
    id: str = "call_1"
    index: int = 0
    pieces: int = DEFAULT_ARGUMENT_PIECES
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ParallelToolCalls:
    """Several tool calls in one turn, interleaved by index: every call's head
    (id and name) first, then their argument pieces in turns (call 0's first
    piece, call 1's first piece, …), so a client must keep them apart by
    ``index``, not by arrival."""

    calls: tuple[ToolCallDelta, ...]


@dataclass(frozen=True, slots=True)
class Finish:
    """The terminating choice chunk: empty delta plus ``finish_reason``."""

    reason: str = "stop"


@dataclass(frozen=True, slots=True)
class UsageChunk:
    """``choices: []`` plus usage; sent only if the request asked for it
    (``stream_options.include_usage``), as OpenAI does."""

    prompt_tokens: int = 11
    completion_tokens: int = 7
    # ``completion_tokens_details.reasoning_tokens``, as reasoning models report them.
    reasoning_tokens: int | None = None


DEFAULT_STREAM_ERROR = "The server had an error while processing your request."


@dataclass(frozen=True, slots=True)
class StreamError:
    """An ``{"error": {...}}`` event in the middle of a 200 stream (vLLM, OpenRouter)."""

    message: str = DEFAULT_STREAM_ERROR
    type: str = "server_error"
    code: str | int | None = None


@dataclass(frozen=True, slots=True)
class Stall:
    """Send nothing for ``seconds`` (the connection stays open)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Comment:
    """An SSE comment line (``: text``), as OpenRouter sends to keep a slow stream open."""

    text: str = "OPENROUTER PROCESSING"


@dataclass(frozen=True, slots=True)
class AbruptClose:
    """Close the socket at once: no ``[DONE]``, no chunked-body terminator."""


@dataclass(frozen=True, slots=True)
class HttpError:
    """An HTTP error response instead of a stream, with an OpenAI-style JSON body."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps(error_body(self.message, self.type, self.code)).encode()


Step = (
    Text
    | Continuation
    | Reasoning
    | ToolCallDelta
    | ParallelToolCalls
    | Finish
    | UsageChunk
    | StreamError
    | Stall
    | Comment
    | AbruptClose
)


@dataclass(frozen=True, slots=True)
class Script:
    """An ordered list of steps for one request; ``name`` shows up in records.

    ``headers_delay`` holds back the response status and headers (a server
    busy with a long prompt), to exercise the client's request timeout.
    ``split_utf8`` sends every event holding a multi-byte character in two
    writes cut inside that character.
    """

    steps: tuple[Step | HttpError, ...]
    name: str = ""
    headers_delay: float = 0.0
    split_utf8: bool = False

    def __post_init__(self) -> None:
        errors = [s for s in self.steps if isinstance(s, HttpError)]
        if errors and len(self.steps) != 1:
            raise ValueError("an HttpError script must have exactly one step")

    # -- builders ---------------------------------------------------------

    @classmethod
    def text(
        cls,
        text: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        delay: float = 0.0,
        finish: str | None = "stop",
        usage: tuple[int, int] | None = (11, 7),
        name: str = "text",
    ) -> Script:
        """A plain answer; ``finish=None`` leaves the turn open for ``then_*`` steps.

        ``usage`` is ``(prompt_tokens, completion_tokens)``; ``None`` sends none.
        """
        script = cls((Text(text, chunk_size, delay),), name=name)
        if finish is not None:
            script = script.then_finish(finish, usage=usage)
        return script

    @classmethod
    def continuation(
        cls,
        text: str,
        *,
        repeat_words: int = 0,
        strip_leading: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        delay: float = 0.0,
        usage: tuple[int, int] | None = (11, 7),
        name: str = "continuation",
    ) -> Script:
        """A Continue's answer: the rest of ``text`` after the partial answer sent."""
        step = Continuation(text, repeat_words, strip_leading, chunk_size, delay)
        return cls((step,), name=name).then_finish("stop", usage=usage)

    def resolved(self, body: Any) -> Script:
        """The script for one request: ``Continuation`` steps made ``Text``."""
        if not any(isinstance(s, Continuation) for s in self.steps):
            return self
        steps = tuple(s.resolve(body) if isinstance(s, Continuation) else s for s in self.steps)
        return replace(self, steps=steps)

    @classmethod
    def reasoning_then_text(
        cls,
        reasoning: str,
        text: str,
        *,
        field: str = "reasoning_content",
        also: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        delay: float = 0.0,
        reasoning_tokens: int | None = None,
        name: str = "reasoning",
    ) -> Script:
        """Thinking in a delta field, then the answer; ``reasoning_tokens``
        reported in the usage when given."""
        steps = (
            Reasoning(reasoning, chunk_size, delay, field, also),
            Text(text, chunk_size, delay),
        )
        # As a real server counts them: the thinking's tokens are output tokens too.
        completion = max(1, round(len(reasoning + text) / 4))
        return cls(steps, name=name).then(
            Finish("stop"), UsageChunk(11, completion, reasoning_tokens=reasoning_tokens)
        )

    @classmethod
    def think_tags(
        cls,
        reasoning: str,
        text: str,
        *,
        chunk_size: int = 3,
        delay: float = 0.0,
        close: bool = True,
        name: str = "think_tags",
    ) -> Script:
        """A model served without a reasoning parser: ``<think>…</think>`` at the
        start of the content, cut across chunks (``chunk_size`` 3: ``<th`` +
        ``ink`` + ``>``…). ``close=False``: the stream ends while still thinking."""
        content = f"<think>{reasoning}</think>{text}" if close else f"<think>{reasoning}"
        return cls((Text(content, chunk_size, delay),), name=name).then_finish("stop")

    @classmethod
    def tool_call(
        cls,
        name: str,
        arguments: Mapping[str, Any] | str,
        *,
        call_id: str = "call_1",
        pieces: int = DEFAULT_ARGUMENT_PIECES,
        before: str = "",
    ) -> Script:
        """A turn that ends with one tool call (``finish_reason="tool_calls"``)."""
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        steps: tuple[Step, ...] = (ToolCallDelta(name, args, call_id, 0, pieces),)
        if before:
            steps = (Text(before), *steps)
        return cls(steps, name="tool_call").then_finish("tool_calls")

    @classmethod
    def parallel_tool_calls(
        cls,
        *calls: tuple[str, Mapping[str, Any] | str],
        pieces: int = DEFAULT_ARGUMENT_PIECES,
        before: str = "",
    ) -> Script:
        """A turn that ends with ``calls`` ((name, arguments), ids ``call_1``,
        ``call_2``…) streamed interleaved by index (``ParallelToolCalls``)."""
        deltas = tuple(
            ToolCallDelta(
                name,
                arguments if isinstance(arguments, str) else json.dumps(arguments),
                f"call_{index + 1}",
                index,
                pieces,
            )
            for index, (name, arguments) in enumerate(calls)
        )
        steps: tuple[Step, ...] = (ParallelToolCalls(deltas),)
        if before:
            steps = (Text(before), *steps)
        return cls(steps, name="parallel_tool_calls").then_finish("tool_calls")

    @classmethod
    def http_error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Script:
        error = HttpError(status, message, type, code, dict(headers or {}))
        return cls((error,), name=f"http_{status}")

    # -- chaining ---------------------------------------------------------

    def then(self, *steps: Step) -> Script:
        if any(isinstance(s, HttpError) for s in self.steps):
            raise ValueError("nothing can follow an HttpError")
        return replace(self, steps=(*self.steps, *steps))

    def then_text(
        self, text: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE, delay: float = 0.0
    ) -> Script:
        return self.then(Text(text, chunk_size, delay))

    def then_finish(
        self, reason: str = "stop", *, usage: tuple[int, int] | None = (11, 7)
    ) -> Script:
        steps: list[Step] = [Finish(reason)]
        if usage is not None:
            steps.append(UsageChunk(*usage))
        return self.then(*steps)

    def then_stall(self, seconds: float) -> Script:
        return self.then(Stall(seconds))

    def then_abrupt_close(self) -> Script:
        return self.then(AbruptClose())

    def then_stream_error(self, message: str = DEFAULT_STREAM_ERROR, **kwargs: Any) -> Script:
        return self.then(StreamError(message, **kwargs))

    def with_headers_delay(self, seconds: float) -> Script:
        return replace(self, headers_delay=seconds)

    def named(self, name: str) -> Script:
        return replace(self, name=name)


DEFAULT_SCRIPT = Script.text(
    "Hello from the **fake model**.\n\n- one\n- two\n\n```python\nprint('hi')\n```\n",
    name="default",
)

# Keywords a browser-driven test can type to pick a scenario (``server.use_keywords()``).
KEYWORD_SCRIPTS: dict[str, Script] = {
    "[slow]": Script.text("Slow " * 40, chunk_size=5, delay=0.1, name="slow"),
    "[stall]": Script.text("Thinking about it", finish=None, name="stall").then_stall(60),
    "[abrupt]": Script.text("This answer breaks", finish=None, name="abrupt").then_abrupt_close(),
    "[midstream-error]": Script.text(
        "Half an ans", finish=None, name="midstream_error"
    ).then_stream_error("Upstream model crashed"),
    "[429]": Script.http_error(
        429,
        "Rate limit reached",
        type="requests",
        code="rate_limit_exceeded",
        headers={"retry-after": "7"},
    ),
    "[401]": Script.http_error(401, "Incorrect API key provided", code="invalid_api_key"),
    "[500]": Script.http_error(500, "The server had an error", type="server_error"),
    "[context]": Script.http_error(
        400, "This model's maximum context length is 8192 tokens.", code="context_length_exceeded"
    ),
    "[tool]": Script.tool_call("calculator", {"expression": "6 * 7"}),
    "[tools-parallel]": Script.parallel_tool_calls(
        ("calculator", {"expression": "2^10"}), ("clock", {"timezone": "Asia/Tokyo"})
    ).named("tools_parallel"),
    "[tool-bad-json]": Script.tool_call("calculator", '{"expression": "2^').named("tool_bad_json"),
    "[tool-unknown]": Script.tool_call("weather", {"city": "Paris"}).named("tool_unknown"),
    "[reasoning]": Script.reasoning_then_text("Let me think step by step.", "The answer is 42."),
    # Long enough to watch: ~1.5 s of thinking in two paragraphs, then the answer.
    "[think]": Script.reasoning_then_text(
        "First I **compare** the two options carefully, one step at a time.\n\n"
        "Then I check the arithmetic: six times seven makes forty-two, as expected.",
        "The answer is **42**.\n\nIt follows from the comparison.",
        field="reasoning",
        chunk_size=4,
        delay=0.04,
        name="think",
    ),
    # Thinks, then hangs while still thinking: for Stop during reasoning.
    "[think-stall]": Script(
        (Reasoning("Still weighing the options, step by step.", 4, 0.02, "reasoning"),),
        name="think_stall",
    ).then_stall(60),
}


# -- wire format: what the steps look like on the wire --------------------------


class ChunkFactory:
    """Builds ``chat.completion.chunk`` objects that share one id, like OpenAI's."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = f"chatcmpl-fake{time.monotonic_ns()}"
        self.model = model
        self.include_usage = include_usage

    def make(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage:
            chunk["usage"] = None  # OpenAI sends an explicit null until the last chunk
        return chunk

    def usage(self, step: UsageChunk) -> dict[str, Any]:
        chunk = self.make({})
        chunk["choices"] = []
        chunk["usage"] = {
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens,
        }
        if step.reasoning_tokens is not None:
            details = {"reasoning_tokens": step.reasoning_tokens}
            chunk["usage"]["completion_tokens_details"] = details
        return chunk


def step_events(step: Any, chunks: ChunkFactory) -> Iterator[tuple[float, dict[str, Any]]]:
    """The (delay before, event) pairs one streaming step produces."""
    if isinstance(step, Continuation):
        raise TypeError("a Continuation step is resolved against its request first")
    if isinstance(step, Text | Reasoning):
        key = "content" if isinstance(step, Text) else step.field
        also = step.also if isinstance(step, Reasoning) else ""
        for i, piece in enumerate(_split(step.text, step.chunk_size)):
            delta = {key: piece, also: piece} if also else {key: piece}
            yield (step.delay if i else 0.0), chunks.make(delta)
    elif isinstance(step, ToolCallDelta):
        head = {"index": step.index, "id": step.id, "type": "function"}
        head["function"] = {"name": step.name, "arguments": ""}
        yield 0.0, chunks.make({"tool_calls": [head]})
        size = max(1, -(-len(step.arguments) // max(1, step.pieces)))
        for piece in _split(step.arguments, size):
            part = {"index": step.index, "function": {"arguments": piece}}
            yield step.delay, chunks.make({"tool_calls": [part]})
    elif isinstance(step, ParallelToolCalls):
        for call in step.calls:
            head = {"index": call.index, "id": call.id, "type": "function"}
            head["function"] = {"name": call.name, "arguments": ""}
            yield 0.0, chunks.make({"tool_calls": [head]})
        pieces = [
            _split(c.arguments, max(1, -(-len(c.arguments) // max(1, c.pieces))))
            for c in step.calls
        ]
        for turn in range(max(len(p) for p in pieces)):
            for call, parts in zip(step.calls, pieces, strict=True):
                if turn < len(parts):
                    part = {"index": call.index, "function": {"arguments": parts[turn]}}
                    yield call.delay, chunks.make({"tool_calls": [part]})
    elif isinstance(step, Finish):
        yield 0.0, chunks.make({}, finish_reason=step.reason)
    elif isinstance(step, UsageChunk):
        yield 0.0, chunks.usage(step)
    elif isinstance(step, StreamError):
        yield 0.0, error_body(step.message, step.type, step.code)
    else:  # pragma: no cover - the Step union is exhaustive
        raise TypeError(f"unknown step {step!r}")


def completion_body(script: Script, body: Any) -> dict[str, Any]:
    """The non-streaming answer: the script's text and tool calls in one message."""
    text = "".join(s.text for s in script.steps if isinstance(s, Text))
    deltas = [
        call
        for s in script.steps
        for call in (s.calls if isinstance(s, ParallelToolCalls) else (s,))
        if isinstance(call, ToolCallDelta)
    ]
    calls = [
        {"id": s.id, "type": "function", "function": {"name": s.name, "arguments": s.arguments}}
        for s in deltas
    ]
    reason = next((s.reason for s in script.steps if isinstance(s, Finish)), "stop")
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake-model") if isinstance(body, dict) else "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _split(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def error_body(
    message: str, type: str = "invalid_request_error", code: str | int | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def content_text(content: Any) -> str:
    """Text of a message's content: a string, or the text parts of a parts list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def last_text(body: Any, *, role: str) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == role:
            return content_text(message.get("content"))
    return ""
