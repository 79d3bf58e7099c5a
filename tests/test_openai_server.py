"""The fake OpenAI server itself: wire format, flushing, scripts, records, hang-ups."""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletionChunk

from tests.fakes import fixtures
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import DEFAULT_SCRIPT, KEYWORD_SCRIPTS, HttpError, Script, Stall, Text

openai_server = fixtures.openai_server  # also provided by tests/conftest.py
# One client for the module: httpx builds an SSL context per client (~50 ms).
HTTP = httpx.Client(timeout=5)


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


def chat_body(text: str = "hi", *, usage: bool = True, stream: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "m1",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


def stream_events(server: FakeOpenAIServer, body: dict[str, Any]) -> list[tuple[float, str]]:
    """(arrival time, data) of each SSE event, read as the bytes arrive."""
    events = []
    with HTTP.stream("POST", server.base_url + "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append((time.monotonic(), line.removeprefix("data: ")))
    return events


def chunks(events: list[tuple[float, str]]) -> list[dict[str, Any]]:
    return [json.loads(data) for _, data in events if data != "[DONE]"]


def raw_request(server: FakeOpenAIServer, body: dict[str, Any]) -> socket.socket:
    """Send a chat request over a bare socket and return it unread, to hang up at will."""
    payload = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float = 2.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {data!r}"
        data += chunk
    return data


def test_stream_is_chat_completion_chunks_ending_with_done(openai_server):
    openai_server.enqueue(Script.text("Hello world", chunk_size=4))

    events = stream_events(openai_server, chat_body())

    assert events[-1][1] == "[DONE]"
    parsed = chunks(events)
    assert {c["object"] for c in parsed} == {"chat.completion.chunk"}
    assert len({c["id"] for c in parsed}) == 1
    assert parsed[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    contents = [c["choices"][0]["delta"].get("content") for c in parsed[1:4]]
    assert contents == ["Hell", "o wo", "rld"]
    assert parsed[4]["choices"][0]["finish_reason"] == "stop"
    assert parsed[5]["choices"] == []
    assert parsed[5]["usage"]["total_tokens"] == 18
    assert all(c["model"] == "m1" for c in parsed)


def test_usage_chunk_is_sent_only_when_asked_for(openai_server):
    openai_server.enqueue(Script.text("Hi"))

    parsed = chunks(stream_events(openai_server, chat_body(usage=False)))

    assert all("usage" not in c for c in parsed)
    assert all(c["choices"] for c in parsed)


def test_each_chunk_is_flushed_when_it_is_due(openai_server):
    delay = 0.1
    openai_server.enqueue(Script.text("abcd", chunk_size=1, delay=delay))

    events = stream_events(openai_server, chat_body())

    arrivals = [t for t, data in events if '"content":"' in data and '"content":""' not in data]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) == 3
    assert all(gap > delay * 0.7 for gap in gaps)


def test_tool_call_arguments_are_split_across_chunks_by_index(openai_server):
    openai_server.enqueue(Script.tool_call("calc", {"expression": "6*7"}, pieces=4))

    parsed = chunks(stream_events(openai_server, chat_body()))

    parts = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in parsed
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert parts[0]["id"] == "call_1"
    assert parts[0]["function"] == {"name": "calc", "arguments": ""}
    pieces = [p["function"]["arguments"] for p in parts[1:]]
    assert len(pieces) == 4
    assert {p["index"] for p in parts} == {0}
    assert json.loads("".join(pieces)) == {"expression": "6*7"}


def test_http_error_has_openai_error_body_and_headers(openai_server):
    openai_server.enqueue(
        Script.http_error(
            429, "Slow down", code="rate_limit_exceeded", headers={"retry-after": "7"}
        )
    )

    response = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body())

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "error": {
            "message": "Slow down",
            "type": "invalid_request_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def test_abrupt_close_ends_the_body_without_done(openai_server):
    openai_server.enqueue(Script.text("partial", finish=None).then_abrupt_close())
    seen: list[str] = []

    with (
        pytest.raises(httpx.RemoteProtocolError),
        HTTP.stream("POST", openai_server.base_url + "/chat/completions", json=chat_body()) as r,
    ):
        seen.extend(r.iter_lines())

    assert "data: [DONE]" not in seen
    assert openai_server.wait_for_finish().hung_up is False


def test_scripts_come_from_queue_then_rules_then_default(openai_server):
    openai_server.enqueue(Script.text("queued", name="queued"))
    openai_server.when("[stall]", Script.text("ruled", name="ruled"))

    for text in ["please [stall] now", "please [stall] now", "plain"]:
        HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body(text, stream=False))

    assert [r.script for r in openai_server.chat_requests] == ["queued", "ruled", "default"]


def test_rules_match_the_last_user_message_only(openai_server):
    openai_server.when("[slow]", Script.text("ruled", name="ruled"))
    body = chat_body("no keyword here", stream=False)
    body["messages"].insert(0, {"role": "user", "content": "earlier [slow]"})

    HTTP.post(openai_server.base_url + "/chat/completions", json=body)

    assert openai_server.chat_requests[0].script == "default"


def test_request_after_a_tool_result_echoes_it(openai_server):
    openai_server.use_keywords()
    body = chat_body("[tool]", stream=False)
    body["messages"] += [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "42"},
    ]

    response = HTTP.post(openai_server.base_url + "/chat/completions", json=body)

    assert response.json()["choices"][0]["message"]["content"] == "The tool returned 42."


def test_keyword_scenarios_are_installed_by_use_keywords(openai_server):
    openai_server.use_keywords()

    response = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body("[429]"))

    assert response.status_code == 429
    assert openai_server.chat_requests[0].script == KEYWORD_SCRIPTS["[429]"].name


def test_a_rule_with_times_steps_aside_after_that_many_requests(openai_server):
    openai_server.when("flaky", Script.http_error(500, "Boom", type="server_error"), times=1)

    first = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body("flaky one"))
    second = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body("flaky one"))

    assert first.status_code == 500
    assert second.status_code == 200
    assert [r.script for r in openai_server.chat_requests] == ["http_500", DEFAULT_SCRIPT.name]


def test_non_streaming_request_gets_one_completion(openai_server):
    response = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body(stream=False))

    message = response.json()["choices"][0]["message"]
    assert message["content"] == DEFAULT_SCRIPT.steps[0].text  # type: ignore[union-attr]


def test_models_endpoint_lists_models(openai_server):
    response = HTTP.get(openai_server.base_url + "/models")

    assert [m["id"] for m in response.json()["data"]] == list(openai_server.models)


def test_records_body_headers_and_completion(openai_server):
    HTTP.post(
        openai_server.base_url + "/chat/completions",
        json=chat_body("hello there", stream=False),
        headers={"Authorization": "Bearer k1"},
    )

    record = openai_server.wait_for_finish()
    assert record.body["messages"][0]["content"] == "hello there"
    assert record.last_user_text == "hello there"
    assert record.headers["authorization"] == "Bearer k1"
    assert record.finished_at is not None
    assert record.finished_at >= record.received_at
    assert not record.hung_up


def test_required_api_key_is_enforced():
    with FakeOpenAIServer(api_key="right") as server:
        url = server.base_url + "/chat/completions"
        wrong = HTTP.post(url, json=chat_body(), headers={"Authorization": "Bearer wrong"})
        right = HTTP.post(
            url, json=chat_body(stream=False), headers={"Authorization": "Bearer right"}
        )

    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200


def test_hang_up_during_a_stall_is_recorded_at_once(openai_server):
    openai_server.enqueue(Script.text("wait", finish=None).then_stall(30))
    sock = raw_request(openai_server, chat_body())
    read_until(sock, b"wait")

    time.sleep(0.1)
    closed_at = time.monotonic()
    sock.close()

    record = openai_server.wait_for_hangup(timeout=1.0)
    assert record.hung_up_at is not None
    assert record.hung_up_at - closed_at < 0.5
    assert record.finished_at is None


def test_hang_up_between_delayed_chunks_is_recorded(openai_server):
    openai_server.enqueue(Script.text("x" * 100, chunk_size=1, delay=0.05))
    sock = raw_request(openai_server, chat_body())
    read_until(sock, b'"content":"x"')
    sock.close()

    record = openai_server.wait_for_hangup(timeout=1.0)

    assert record.finished_at is None


def test_completed_stream_is_not_a_hang_up(openai_server):
    stream_events(openai_server, chat_body())

    with pytest.raises(TimeoutError):
        openai_server.wait_for_hangup(timeout=0.2)


def test_stop_ends_a_stalled_script_promptly():
    server = FakeOpenAIServer().start()
    server.enqueue(Script.text("wait", finish=None).then_stall(30))
    sock = raw_request(server, chat_body())
    read_until(sock, b"wait")

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 1.0
    sock.close()


def test_http_error_script_must_stand_alone():
    with pytest.raises(ValueError, match="exactly one step"):
        Script((*Script.http_error(500, "x").steps, *Script.text("y").steps))


def _every_scenario() -> list[Script]:
    # A long stall would only make the test wait; its chunks are the text's.
    stalls = {
        name for name, s in KEYWORD_SCRIPTS.items() if any(isinstance(p, Stall) for p in s.steps)
    }
    return [
        *(s for name, s in KEYWORD_SCRIPTS.items() if name not in stalls),
        DEFAULT_SCRIPT,
        Script((Text("Grüße 🚀", chunk_size=2),), split_utf8=True).then_finish(),
        Script.tool_call("calculator", {"expression": "2^10"}),
        Script.parallel_tool_calls(("calculator", {"expression": "1+1"}), ("clock", {})),
        Script.reasoning_then_text("thinking", "answer"),
    ]


@pytest.mark.parametrize("script", _every_scenario(), ids=lambda s: s.name or "unnamed")
def test_every_chunk_is_valid_for_the_openai_sdk(openai_server, script):
    """The openai SDK's own model accepts every chunk the fake sends (errors
    mid-stream are OpenAI's ``{"error": ...}`` events, not chunks)."""
    openai_server.enqueue(script)
    if isinstance(script.steps[0], HttpError):
        response = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body())
        assert response.status_code == script.steps[0].status
        assert set(response.json()["error"]) >= {"message", "type", "code"}
        return
    lines: list[str] = []
    with HTTP.stream("POST", openai_server.base_url + "/chat/completions", json=chat_body()) as r:
        try:
            lines.extend(line for line in r.iter_lines() if line.startswith("data: {"))
        except httpx.RemoteProtocolError:
            assert script.name == "abrupt", "only the abrupt close breaks the body"
    payloads = [json.loads(line.removeprefix("data: ")) for line in lines]
    assert payloads
    for payload in payloads:
        if "error" in payload:
            continue
        ChatCompletionChunk.model_validate(payload)


def _stream_chunks(openai_server: Any, script: Script | None) -> list[ChatCompletionChunk]:
    if script is not None:
        openai_server.enqueue(script)
    with HTTP.stream("POST", openai_server.base_url + "/chat/completions", json=chat_body()) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: {")]
    return [ChatCompletionChunk.model_validate_json(line.removeprefix("data: ")) for line in lines]


def test_parallel_tool_calls_are_interleaved_by_index_and_rebuild_whole(openai_server):
    script = Script.parallel_tool_calls(
        ("calculator", {"expression": "2^10"}), ("clock", {"timezone": "Asia/Tokyo"}), pieces=3
    )
    chunks = _stream_chunks(openai_server, script)

    parts = [p for c in chunks if c.choices for p in c.choices[0].delta.tool_calls or ()]
    heads = [(p.index, p.id, p.function and p.function.name) for p in parts if p.id]
    assert heads == [(0, "call_1", "calculator"), (1, "call_2", "clock")]
    pieces = [p.index for p in parts if not p.id]
    assert pieces == [0, 1, 0, 1, 0, 1]  # interleaved: arrival order is no guide
    arguments: dict[int, str] = {}
    for p in parts:
        assert p.function is not None
        arguments[p.index] = arguments.get(p.index, "") + (p.function.arguments or "")
    assert json.loads(arguments[0]) == {"expression": "2^10"}
    assert json.loads(arguments[1]) == {"timezone": "Asia/Tokyo"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"


def test_tool_calls_in_sequence_answer_one_request_each(openai_server):
    openai_server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}),
        Script.tool_call("clock", {"timezone": "UTC"}, call_id="call_2"),
    )
    names = []
    for _ in range(2):
        chunks = _stream_chunks(openai_server, None)
        names.append(
            [
                p.function.name
                for c in chunks
                if c.choices
                for p in c.choices[0].delta.tool_calls or ()
                if p.function and p.function.name
            ]
        )
    assert names == [["calculator"], ["clock"]]


def test_a_split_utf8_event_comes_in_two_writes_cut_inside_a_character(openai_server):
    openai_server.enqueue(Script((Text("é", chunk_size=1),), split_utf8=True).then_finish())
    sock = raw_request(openai_server, chat_body())
    data = read_until(sock, b"[DONE]")
    sock.close()
    # HTTP/1.1 chunks: the event with "é" (0xC3 0xA9) is cut between its two bytes.
    assert b"\xc3\r\n" in data
    assert b"\r\n\xa9" in data


def test_strict_models_answer_404_for_an_unknown_model():
    with FakeOpenAIServer(models=("known",), strict_models=True) as server:
        response = HTTP.post(server.base_url + "/chat/completions", json=chat_body())
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"
        server.enqueue(Script.text("ok"))
        assert (
            "ok"
            in HTTP.post(
                server.base_url + "/chat/completions", json={**chat_body(), "model": "known"}
            ).text
        )


def test_a_server_may_refuse_stream_options(openai_server):
    openai_server.reject_stream_options = True
    refused = HTTP.post(openai_server.base_url + "/chat/completions", json=chat_body())
    assert refused.status_code == 400
    assert "stream_options" in refused.json()["error"]["message"]
    openai_server.enqueue(Script.text("fine"))
    assert chunks(stream_events(openai_server, chat_body(usage=False)))


def _continue_body(question: str, partial: str, *, instruction: str | None) -> dict[str, Any]:
    body = chat_body(question)
    body["messages"].append({"role": "assistant", "content": partial})
    if instruction is not None:
        body["messages"].append({"role": "user", "content": instruction})
    return body


def _content(events: list[tuple[float, str]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks(events) if c["choices"]
    )


@pytest.mark.parametrize("instruction", [None, "Go on."])
def test_a_continuation_rule_answers_the_rest_of_the_text(openai_server, instruction):
    whole = "The quick brown fox jumps over the lazy dog."
    openai_server.when("[fox]", Script.text("first try"))
    openai_server.when_continuing("[fox]", Script.continuation(whole, repeat_words=2))
    body = _continue_body("[fox] tell me", "The quick brown fox ju", instruction=instruction)
    assert _content(stream_events(openai_server, body)) == "fox jumps over the lazy dog."
    exact = Script.continuation(whole, strip_leading=False).steps[0]
    assert exact.resolve(body).text == "mps over the lazy dog."  # type: ignore[union-attr]
    # The question alone is no continuation: the ordinary rule answers.
    assert _content(stream_events(openai_server, chat_body("[fox] again"))) == "first try"
