"""OpenAICompatProvider against the fake OpenAI server, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from streaming.providers import openai_compat
from streaming.providers.base import (
    ChatMessage,
    Finish,
    HoldsBack,
    ProviderError,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from streaming.providers.errors import MSG_AUTH
from streaming.providers.openai_compat import OpenAICompatProvider
from tests.fakes import fixtures
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Comment, Reasoning, Script, Text, ToolCallDelta

openai_server = fixtures.openai_server  # also provided by tests/conftest.py

PROMPT = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello")]
# A hang-up must reach the server at once; 1 s is generous for a loaded CI box.
HANGUP_DEADLINE_S = 1.0


@pytest.fixture
async def provider(openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider(openai_server.base_url, "sk-test")
    yield p
    await p.aclose()


async def collect(
    provider: OpenAICompatProvider, **kwargs: object
) -> tuple[list[ProviderEvent], ProviderError | None]:
    """All events the provider yields, and the ProviderError that ended them, if any."""
    events: list[ProviderEvent] = []
    try:
        async for event in provider.stream(messages=PROMPT, model="fake-model", **kwargs):  # type: ignore[arg-type]
            events.append(event)
    except ProviderError as exc:
        return events, exc
    return events, None


def text_of(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events: list[ProviderEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


async def test_plain_text_arrives_as_several_deltas_then_finish(provider, openai_server):
    openai_server.enqueue(Script.text("Hello **world**, how are you?", chunk_size=5))

    events, error = await collect(provider)

    assert error is None
    assert text_of(events) == "Hello **world**, how are you?"
    assert len([e for e in events if isinstance(e, TextDelta)]) == 6
    assert events[-1] == Finish("stop")


async def test_usage_is_reported_before_the_final_finish(provider, openai_server):
    openai_server.enqueue(Script.text("Hi", usage=(42, 3)))

    events, _ = await collect(provider)

    assert events[-2:] == [Usage(prompt_tokens=42, completion_tokens=3), Finish("stop")]


async def test_request_asks_for_a_stream_with_usage_and_sends_key_tools_and_limit(
    provider, openai_server
):
    tool = ToolSpec("calculator", "Evaluate arithmetic", {"type": "object", "properties": {}})

    await collect(provider, tools=[tool], max_tokens=64)

    record = openai_server.chat_requests[0]
    assert record.headers["authorization"] == "Bearer sk-test"
    assert record.body["model"] == "fake-model"
    assert record.body["stream"] is True
    assert record.body["stream_options"] == {"include_usage": True}
    assert record.body["max_tokens"] == 64
    assert record.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    assert record.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "calculator",
                "description": "Evaluate arithmetic",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]


async def test_tool_loop_messages_carry_tool_calls_and_tool_call_id(provider, openai_server):
    call = ToolCall("call_9", "calculator", {"expression": "6*7"})
    messages = [
        ChatMessage("user", "What is 6*7?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "42", tool_call_id="call_9"),
    ]

    events = [e async for e in provider.stream(messages=messages, model="fake-model")]

    assert text_of(events) == "The tool returned 42."
    sent = openai_server.chat_requests[0].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "6*7"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "content": "42", "tool_call_id": "call_9"}


async def test_tool_call_arguments_split_over_chunks_are_delivered_whole(provider, openai_server):
    args = {"expression": "(6 * 7) + 1", "precision": 2}
    openai_server.enqueue(Script.tool_call("calculator", args, call_id="call_abc", pieces=6))

    events, error = await collect(provider)

    assert error is None
    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall("call_abc", "calculator", args)
    ]
    assert events[-1] == Finish("tool_calls")


async def test_parallel_tool_calls_are_kept_apart_by_index(provider, openai_server):
    openai_server.enqueue(
        Script(
            (
                ToolCallDelta("clock", "{}", id="call_a", index=0),
                ToolCallDelta("calculator", '{"expression": "1+1"}', id="call_b", index=1),
            )
        ).then_finish("tool_calls")
    )

    events, _ = await collect(provider)

    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall("call_a", "clock", {}),
        ToolCall("call_b", "calculator", {"expression": "1+1"}),
    ]


async def test_tool_calls_ending_with_finish_stop_are_still_delivered(provider, openai_server):
    # Some compatible servers (Gemini, older vLLM) report "stop" after a tool call.
    openai_server.enqueue(
        Script((ToolCallDelta("clock", "{}"),)).then_finish("stop"),
    )

    events, _ = await collect(provider)

    assert ToolCall("call_1", "clock", {}) in events
    assert events[-1] == Finish("tool_calls")


async def test_malformed_tool_arguments_come_as_the_text_sent(provider, openai_server):
    openai_server.enqueue(Script.tool_call("calculator", '{"expression": "6*'))

    events, error = await collect(provider)

    assert error is None
    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall("call_1", "calculator", '{"expression": "6*')
    ]
    assert events[-1] == Finish("tool_calls")


async def test_a_tool_call_without_a_name_fails_as_a_broken_stream(provider, openai_server):
    openai_server.enqueue(Script.tool_call("", '{"expression": "6*7"}'))

    events, error = await collect(provider)

    assert not [e for e in events if isinstance(e, ToolCall)]
    assert error is not None
    assert error.code == "stream_broken"
    assert error.retryable


async def test_raw_arguments_go_back_to_the_model_as_sent(provider, openai_server):
    call = ToolCall("call_9", "calculator", '{"expression": "6*')
    messages = [
        ChatMessage("user", "What is 6*7?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "Error: not JSON", tool_call_id="call_9"),
    ]

    [e async for e in provider.stream(messages=messages, model="fake-model")]

    sent = openai_server.chat_requests[0].body["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"expression": "6*'


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_fields_become_reasoning_deltas_not_text(provider, openai_server, field):
    openai_server.enqueue(Script.reasoning_then_text("First, 6*7 is 42.", "42", field=field))

    events, _ = await collect(provider)

    assert reasoning_of(events) == "First, 6*7 is 42."
    assert text_of(events) == "42"
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(not isinstance(e, ReasoningDelta) for e in events[first_text:])


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 8, 64])
async def test_leading_think_tags_are_split_off_even_when_cut_across_chunks(
    provider, openai_server, chunk_size
):
    content = "\n<think>Compare a and b.\nb wins.</think>\n\nThe answer is **b**."
    openai_server.enqueue(Script.text(content, chunk_size=chunk_size))

    events, _ = await collect(provider)

    assert reasoning_of(events) == "Compare a and b.\nb wins."
    assert text_of(events) == "The answer is **b**."


@pytest.mark.parametrize("content", ["<thinking is hard", "< think>", "a <think>b</think>"])
async def test_content_that_only_looks_like_a_think_tag_stays_text(
    provider, openai_server, content
):
    openai_server.enqueue(Script.text(content, chunk_size=1))

    events, _ = await collect(provider)

    assert text_of(events) == content
    assert reasoning_of(events) == ""


async def test_unclosed_think_is_flushed_as_reasoning_at_finish(provider, openai_server):
    openai_server.enqueue(Script.text("<think>still thinking</thi", chunk_size=4, finish="length"))

    events, _ = await collect(provider)

    assert reasoning_of(events) == "still thinking</thi"
    assert events[-1] == Finish("length")


def http_error(status: int, message: str = "nope", **kwargs) -> Script:
    return Script.http_error(status, message, **kwargs)


@pytest.mark.parametrize(
    ("script", "code", "retryable", "retry_after"),
    [
        (http_error(401, code="invalid_api_key"), "auth", False, None),
        (http_error(403, type="permission_error"), "auth", False, None),
        (http_error(429, headers={"retry-after": "7"}), "rate_limit", True, 7.0),
        (http_error(429, headers={"retry-after-ms": "1500"}), "rate_limit", True, 1.5),
        (http_error(429, code="insufficient_quota"), "rate_limit", False, None),
        (
            http_error(400, "Too long", code="context_length_exceeded"),
            "context_length",
            False,
            None,
        ),
        (
            http_error(400, "This model's maximum context length is 4096 tokens. However, …"),
            "context_length",
            False,
            None,
        ),
        (
            http_error(400, "the request exceeds the available context size"),
            "context_length",
            False,
            None,
        ),
        (http_error(400, "temperature must be <= 2"), "bad_request", False, None),
        (http_error(404, "The model `fake-model` does not exist"), "not_found", False, None),
        (http_error(500, type="server_error"), "upstream_down", True, None),
        (http_error(502, type="server_error"), "upstream_down", True, None),
        (http_error(503, headers={"retry-after": "12"}), "upstream_down", True, 12.0),
    ],
    ids=lambda v: v.name if isinstance(v, Script) else None,
)
async def test_http_errors_map_to_provider_errors(
    provider, openai_server, script, code, retryable, retry_after
):
    openai_server.enqueue(script)

    events, error = await collect(provider)

    assert events == []
    assert error is not None
    assert (error.code, error.retryable, error.retry_after) == (code, retryable, retry_after)
    assert "nope" not in error.message  # upstream text stays in detail, for the logs
    assert len(openai_server.chat_requests) == 1  # max_retries=0: no silent retries


async def test_auth_error_tells_the_user_who_must_act(provider, openai_server):
    openai_server.enqueue(http_error(401))

    _, error = await collect(provider)

    assert error is not None
    assert error.message == MSG_AUTH
    assert "sk-test" not in error.message + error.detail


async def test_rate_limit_message_names_the_wait(provider, openai_server):
    openai_server.enqueue(http_error(429, headers={"retry-after": "7"}))

    _, error = await collect(provider)

    assert error is not None
    assert error.message == "The model is rate-limited. Try again in 7 seconds."


async def test_not_found_message_names_the_model(provider, openai_server):
    openai_server.enqueue(http_error(404))

    _, error = await collect(provider)

    assert error is not None
    assert "fake-model" in error.message


async def test_connection_refused_is_upstream_down():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = OpenAICompatProvider(f"http://127.0.0.1:{port}/v1", "k")

    events, error = await collect(provider)

    assert events == []
    assert error is not None
    assert (error.code, error.retryable) == ("upstream_down", True)


async def test_error_event_mid_stream_comes_after_the_deltas_before_it(provider, openai_server):
    openai_server.enqueue(
        Script.text("Half an answ", chunk_size=4, finish=None).then_stream_error("model crashed")
    )

    events, error = await collect(provider)

    assert text_of(events) == "Half an answ"
    assert not any(isinstance(e, Finish) for e in events)
    assert error is not None
    assert (error.code, error.retryable) == ("stream_broken", True)
    assert "model crashed" in error.detail


async def test_context_length_error_event_mid_stream_is_context_length(provider, openai_server):
    openai_server.enqueue(
        Script.text("x", finish=None).then_stream_error(
            "maximum context length exceeded", type="invalid_request_error"
        )
    )

    _, error = await collect(provider)

    assert error is not None
    assert error.code == "context_length"


async def test_abrupt_close_is_a_broken_stream_after_the_deltas(provider, openai_server):
    openai_server.enqueue(Script.text("This answer br", finish=None).then_abrupt_close())

    events, error = await collect(provider)

    assert text_of(events) == "This answer br"
    assert error is not None
    assert (error.code, error.retryable) == ("stream_broken", True)


async def test_stream_that_ends_without_finish_reason_is_broken(provider, openai_server):
    openai_server.enqueue(Script.text("cut short", finish=None))  # [DONE], but no finish

    events, error = await collect(provider)

    assert text_of(events) == "cut short"
    assert error is not None
    assert error.code == "stream_broken"


async def test_a_stall_is_the_consumers_to_time_out(provider, openai_server):
    # The run owns SPOOL_IDLE_TIMEOUT_S (tests/test_runs.py): the provider
    # raises no timeout of its own (nor lets the SDK's read timeout fire) and
    # hangs up when its consumer gives up on it.
    openai_server.enqueue(Script.text("Thinking", chunk_size=8, finish=None).then_stall(30))
    stream = provider.stream(messages=PROMPT, model="fake-model")
    assert await anext(stream) == TextDelta("Thinking")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream), timeout=1.0)

    record = await asyncio.to_thread(openai_server.wait_for_hangup, HANGUP_DEADLINE_S)
    assert record.finished_at is None


async def test_no_response_headers_in_time_is_a_timeout_and_hangs_up(openai_server):
    impatient = OpenAICompatProvider(openai_server.base_url, "k", timeout=0.3)
    openai_server.enqueue(Script.text("late").with_headers_delay(30))
    started = time.monotonic()

    events, error = await collect(impatient)

    assert events == []
    assert error is not None
    assert (error.code, error.retryable) == ("timeout", True)
    assert time.monotonic() - started < 1.5
    await asyncio.to_thread(openai_server.wait_for_hangup, HANGUP_DEADLINE_S)
    await impatient.aclose()


async def test_stall_after_finish_reason_still_finishes(provider, openai_server, monkeypatch):
    monkeypatch.setattr(openai_compat, "TAIL_GRACE_S", 0.1)
    openai_server.enqueue(Script.text("Done.", finish=None).then_finish(usage=None).then_stall(30))

    events, error = await collect(provider)

    assert error is None
    assert events[-1] == Finish("stop")


async def test_cancelling_the_consumer_hangs_up_upstream_at_once(provider, openai_server):
    openai_server.enqueue(Script.text("word " * 200, chunk_size=5, delay=0.02))
    received: list[ProviderEvent] = []
    streaming = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(messages=PROMPT, model="fake-model"):
            received.append(event)
            if len(received) == 3:
                streaming.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), timeout=2)
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task

    record = await asyncio.to_thread(openai_server.wait_for_hangup, HANGUP_DEADLINE_S)
    assert record.hung_up_at is not None
    assert record.hung_up_at - cancelled_at < HANGUP_DEADLINE_S
    assert record.finished_at is None


async def test_aclose_mid_stream_hangs_up(provider, openai_server):
    openai_server.enqueue(Script.text("word " * 200, chunk_size=5, delay=0.02))
    stream = provider.stream(messages=PROMPT, model="fake-model")
    closable: object = stream
    assert isinstance(closable, HoldsBack)  # the run takes held text after closing it
    assert isinstance(await anext(stream), TextDelta)

    await stream.aclose()

    record = await asyncio.to_thread(openai_server.wait_for_hangup, HANGUP_DEADLINE_S)
    assert record.finished_at is None


async def test_provider_serves_consecutive_streams(provider, openai_server):
    openai_server.enqueue(Script.text("one"), Script.text("two"))

    first, _ = await collect(provider)
    second, _ = await collect(provider)

    assert (text_of(first), text_of(second)) == ("one", "two")


async def test_reasoning_steps_and_text_interleave_in_order(provider, openai_server):
    openai_server.enqueue(
        Script(
            (Reasoning("plan", chunk_size=10), Text("A"), Reasoning("more"), Text("B"))
        ).then_finish()
    )

    events, _ = await collect(provider)

    kinds = [(type(e).__name__, getattr(e, "text", None)) for e in events[:4]]
    assert kinds == [
        ("ReasoningDelta", "plan"),
        ("TextDelta", "A"),
        ("ReasoningDelta", "more"),
        ("TextDelta", "B"),
    ]


async def test_text_cut_inside_utf8_characters_arrives_intact(provider, openai_server):
    text = "Grüße aus Köln — 你好\uff0c世界 🚀🎉 ça va? " * 8
    openai_server.enqueue(
        Script((Text(text, chunk_size=3),), name="utf8", split_utf8=True).then_finish()
    )

    events, error = await collect(provider)

    assert error is None
    assert text_of(events) == text


async def test_a_100_kb_answer_arrives_whole(provider, openai_server):
    text = "".join(f"Line {i}: {'lorem ipsum dolor sit amet ' * 3}\n" for i in range(1_300))
    assert len(text.encode()) > 100_000
    openai_server.enqueue(Script.text(text, chunk_size=64))

    events, error = await collect(provider)

    assert error is None
    assert text_of(events) == text
    assert isinstance(events[-1], Finish)
    assert events[-1].reason == "stop"


async def test_sse_comments_between_chunks_are_ignored(provider, openai_server):
    openai_server.enqueue(
        Script(
            (Comment(), Text("Hello "), Comment(), Comment("keep-alive"), Text("there"))
        ).then_finish()
    )

    events, error = await collect(provider)

    assert error is None
    assert text_of(events) == "Hello there"


PREFILLED = [ChatMessage("user", "Count"), ChatMessage("assistant", "one, two,")]


@pytest.mark.parametrize(
    ("style", "flags", "message_extra"),
    [
        ("plain", {}, {}),
        ("vllm", {"continue_final_message": True, "add_generation_prompt": False}, {}),
        ("prefix", {}, {"prefix": True}),
    ],
)
async def test_a_final_assistant_message_is_sent_as_the_servers_prefill(
    openai_server: FakeOpenAIServer,
    style: openai_compat.PrefillStyle,
    flags: dict[str, bool],
    message_extra: dict[str, bool],
) -> None:
    openai_server.enqueue(Script.text(" three."))
    p = OpenAICompatProvider(openai_server.base_url, "k", prefill=style)
    try:
        events = [e async for e in p.stream(messages=PREFILLED, model="fake-model")]
    finally:
        await p.aclose()
    assert text_of(events) == " three."
    body = openai_server.chat_requests[0].body
    assert body["messages"][-1] == {"role": "assistant", "content": "one, two,", **message_extra}
    for name in ("continue_final_message", "add_generation_prompt"):
        assert body.get(name) == flags.get(name)


async def test_without_a_prefill_style_no_flag_is_sent(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider
) -> None:
    openai_server.enqueue(Script.text("ok"))
    [e async for e in provider.stream(messages=PREFILLED, model="fake-model")]
    body = openai_server.chat_requests[0].body
    assert body["messages"][-1] == {"role": "assistant", "content": "one, two,"}
    assert "continue_final_message" not in body


async def test_reasoning_text_is_read_too(provider, openai_server):
    openai_server.enqueue(Script.reasoning_then_text("Mull.", "Done.", field="reasoning_text"))

    events, _ = await collect(provider)

    assert (reasoning_of(events), text_of(events)) == ("Mull.", "Done.")


async def test_a_server_sending_two_reasoning_fields_is_read_once(provider, openai_server):
    openai_server.enqueue(
        Script.reasoning_then_text(
            "Step one, step two.", "Two steps.", field="reasoning", also="reasoning_content"
        )
    )

    events, _ = await collect(provider)

    assert reasoning_of(events) == "Step one, step two."
    assert text_of(events) == "Two steps."


async def test_text_held_back_is_flushed_when_the_stream_breaks(provider, openai_server):
    """ "</thi" may be the start of the closing tag: held back, then kept as
    reasoning when the connection drops, before the error."""
    openai_server.enqueue(
        Script.text("<think>cut off mid </thi", chunk_size=30, finish=None).then_abrupt_close()
    )

    events, error = await collect(provider)

    assert error is not None
    assert error.code == "stream_broken"
    assert reasoning_of(events) == "cut off mid </thi"
    assert text_of(events) == ""


async def test_reasoning_tokens_come_from_the_usage_details(provider, openai_server):
    openai_server.enqueue(Script.reasoning_then_text("Hm.", "Yes.", reasoning_tokens=5))

    events, _ = await collect(provider)

    usage = next(e for e in events if isinstance(e, Usage))
    assert (usage.completion_tokens, usage.reasoning_tokens) == (2, 5)  # as the server said


async def test_reasoning_effort_is_sent_only_when_asked(provider, openai_server):
    openai_server.enqueue(Script.text("a"))
    openai_server.enqueue(Script.text("b"))

    await collect(provider, reasoning_effort="high")
    await collect(provider)

    first, second = openai_server.chat_requests[-2:]
    assert first.body["reasoning_effort"] == "high"
    assert "reasoning_effort" not in second.body
