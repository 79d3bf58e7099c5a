"""The tool loop through a real daphne: every tool scenario of the fake model
server, what is stored (the message, its tool calls, its usage), what the
model server was sent (the ``tool_calls`` / ``tool_call_id`` turns), what the
page's stream and the JSON stream carry, Stop during a tool round, and the
round cap."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streaming.markdown import render_markdown
from streaming.metrics import estimate_tokens
from streaming.runs.tool_loop import MAX_TOOL_ROUNDS
from tests.fakes.openai_server import FakeOpenAIServer, RequestRecord
from tests.fakes.scripts import Finish, Script, Text, ToolCallDelta
from tests.support.client import SpoolClient, SSEEvent, count
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.json_stream import Text as ProgramText
from tests.support.json_stream import read_events
from tests.test_continue_failed_flow import page_stream
from tests.test_live import answer_article
from tests.test_views_stream import PageModel

MODEL = "fake-model"
# What the fake server reports per request (tests/fakes/scripts.py, UsageChunk).
PROMPT_TOKENS, COMPLETION_TOKENS = 11, 7
NOT_JSON = "the arguments are not valid JSON; send a JSON object matching the tool's schema"
NO_WEATHER = "there is no tool named 'weather' (available: calculator, clock)"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(MODEL,)) as fake:
        fake.use_keywords()
        yield fake


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, server: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("tools")
    env = {
        "SPOOL_LLM_BASE_URL": server.base_url,
        "SPOOL_LLM_MODELS": MODEL,
        "SPOOL_LLM_TOOL_MODELS": "*",
    }
    with run_daphne(tmp, env) as daphne:
        yield daphne


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def ask(client: SpoolClient, spool: DaphneServer, text: str) -> tuple[str, str, dict[str, Any]]:
    """Send ``text``, follow the answer to its end: (page path, answer id, stored row)."""
    path, answer_id = client.start_conversation(text, model=MODEL)
    client.stream_until(answer_id, count("done", 1))
    row = spool.wait_status(answer_id, "complete", "truncated", "failed", "stopped")
    return path, answer_id, row


def requests_for(server: FakeOpenAIServer, text: str) -> list[RequestRecord]:
    return [r for r in server.chat_requests if r.last_user_text == text]


def calls_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored calls, without what varies (duration) or is drawn (the chip:
    ``chips_of``)."""
    calls: list[dict[str, Any]] = json.loads(row["tool_calls"])
    for call in calls:
        assert call.pop("duration_ms") >= 0  # measured, whatever the machine's pace
        call.pop("chip")
    return calls


def chips_of(row: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The stored calls' chips: (state, words, where in the text)."""
    return [
        (call["chip"]["state"], call["chip"]["text"], call["chip"]["at"])
        for call in json.loads(row["tool_calls"])
    ]


def assistant_turn(*calls: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": name, "arguments": args}}
            for i, name, args in calls
        ],
    }


def test_one_call_is_run_stored_and_sent_back(client: SpoolClient, spool, server) -> None:
    question = "[tool] what is six times seven?"
    path, answer_id, row = ask(client, spool, question)

    assert (row["status"], row["content"]) == ("complete", "The tool returned 42.")
    assert calls_of(row) == [
        {
            "id": "call_1",
            "name": "calculator",
            "arguments": {"expression": "6 * 7"},
            "result": "42",
            "error": "",
            "round": 1,
        }
    ]
    assert chips_of(row) == [("done", "Calculated: 42", 0)]
    assert (row["prompt_tokens"], row["output_tokens"]) == (
        2 * PROMPT_TOKENS,
        2 * COMPLETION_TOKENS,
    )
    first, second = requests_for(server, question)
    assert [t["function"]["name"] for t in first.body["tools"]] == ["calculator", "clock"]
    assert second.body["messages"][-2:] == [
        assistant_turn(("call_1", "calculator", '{"expression": "6 * 7"}')),
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
    ]

    # The page's stream, replayed from its first event: the chip running,
    # then finished, said once; never the arguments as they streamed.
    events = client.stream_until(answer_id, count("done", 1), last_event_id="0")
    chips = [e.data for e in events if e.event == "tool"]
    assert len(chips) == 2
    assert "Calculating 6 * 7 …" in chips[0]
    assert "tool-chip-running" in chips[0]
    assert "Calculated: 42" in chips[1]
    assert "tool-chip-done" in chips[1]
    statuses = [e.data for e in events if e.event == "status"]
    assert statuses.count("Calculator: 42") == 1
    assert not any("expression" in e.data for e in events if e.event in ("status", "announce"))

    # A program's stream carries the calls too.
    json_events = read_events(client.http, answer_id, after="0", until="final")
    tools = [(e.event, e.data) for e in json_events if e.event.startswith("tool_")]
    assert tools[0] == (
        "tool_start",
        {"id": "call_1", "name": "calculator", "arguments": {"expression": "6 * 7"}},
    )
    assert tools[1][0] == "tool_result"
    assert {k: v for k, v in tools[1][1].items() if k != "duration_ms"} == {
        "id": "call_1",
        "name": "calculator",
        "ok": True,
        "result": "42",
        "error": None,
    }

    # A program that connects late gets the calls with the text so far.
    late = read_events(client.http, answer_id, until="final")
    assert late[0].event == "snapshot"
    assert late[0].data["text"] == "The tool returned 42."
    [call] = late[0].data["tool_calls"]
    assert call.pop("duration_ms") >= 0
    assert call == {
        "id": "call_1",
        "name": "calculator",
        "arguments": {"expression": "6 * 7"},
        "ok": True,
        "result": "42",
        "error": None,
    }

    # After a reload the chip is where the stream put it: before the text.
    page = client.http.get(path).text
    assert page.index("Calculated: 42") < page.index("The tool returned 42.")


def test_two_parallel_calls_interleaved_by_index(client: SpoolClient, spool, server) -> None:
    question = "[tools-parallel] two things at once"
    _, _, row = ask(client, spool, question)

    calls = calls_of(row)
    assert [(c["id"], c["name"], c["arguments"], c["error"], c["round"]) for c in calls] == [
        ("call_1", "calculator", {"expression": "2^10"}, "", 1),
        ("call_2", "clock", {"timezone": "Asia/Tokyo"}, "", 1),
    ]
    assert calls[0]["result"] == "1024"
    assert calls[1]["result"].endswith("(UTC+0900, Asia/Tokyo)")
    # The fake answers the last tool message: the clock's.
    assert row["content"] == f"The tool returned {calls[1]['result']}."
    assert (row["prompt_tokens"], row["output_tokens"]) == (
        2 * PROMPT_TOKENS,
        2 * COMPLETION_TOKENS,
    )
    _, second = requests_for(server, question)
    assert second.body["messages"][-3:] == [
        assistant_turn(
            ("call_1", "calculator", '{"expression": "2^10"}'),
            ("call_2", "clock", '{"timezone": "Asia/Tokyo"}'),
        ),
        {"role": "tool", "content": "1024", "tool_call_id": "call_1"},
        {"role": "tool", "content": calls[1]["result"], "tool_call_id": "call_2"},
    ]


def test_calls_in_sequence_take_a_round_each(client: SpoolClient, spool, server) -> None:
    question = "calls in sequence"
    server.enqueue(
        Script.tool_call("calculator", {"expression": "6*7"}),
        Script.tool_call("calculator", {"expression": "42+1"}, call_id="call_2", before="So:"),
        Script.text("It is 43."),
    )
    path, _, row = ask(client, spool, question)

    assert row["content"] == "So:\n\nIt is 43."
    assert [(c["id"], c["result"], c["round"]) for c in calls_of(row)] == [
        ("call_1", "42", 1),
        ("call_2", "43", 2),
    ]
    assert (row["prompt_tokens"], row["output_tokens"]) == (
        3 * PROMPT_TOKENS,
        3 * COMPLETION_TOKENS,
    )
    third = requests_for(server, question)[2].body["messages"]
    assert third[1:] == [
        assistant_turn(("call_1", "calculator", '{"expression": "6*7"}')),
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        {"content": "So:", **assistant_turn(("call_2", "calculator", '{"expression": "42+1"}'))},
        {"role": "tool", "content": "43", "tool_call_id": "call_2"},
    ]
    # Text after a round continues below the chip before it.
    page = client.http.get(path).text
    order = ["Calculated: 42", "So:", "Calculated: 43", "It is 43."]
    assert [page.index(text) for text in order] == sorted(page.index(text) for text in order)


def test_a_round_without_usage_makes_the_answers_count_an_estimate(
    client: SpoolClient, spool, server
) -> None:
    """The first round's request is counted, the second's is not (its usage
    never came): the sum would be a count of part of the answer. The whole
    answer's output is estimated instead, marked so, and its prompt is unknown."""
    question = "a round the server did not count"
    server.enqueue(
        Script.tool_call("calculator", {"expression": "6*7"}),
        Script((Text("The product is 42, as computed."),)).then_finish(usage=None),
    )
    _, answer_id, row = ask(client, spool, question)

    assert row["content"] == "The product is 42, as computed."
    assert row["output_tokens_estimated"]
    assert row["output_tokens"] == estimate_tokens(row["content"])
    assert row["prompt_tokens"] is None
    final = read_events(client.http, answer_id, until="final")[-1].data["metrics"]
    assert (final["output_tokens"], final["output_tokens_estimated"]) == (8, True)
    assert final["prompt_tokens"] is None


@pytest.mark.parametrize(
    ("keyword", "name", "arguments", "sent", "error"),
    [
        ("[tool-bad-json]", "calculator", '{"expression": "2^', '{"expression": "2^', NOT_JSON),
        ("[tool-unknown]", "weather", {"city": "Paris"}, '{"city": "Paris"}', NO_WEATHER),
    ],
    ids=["invalid_json", "unknown_tool"],
)
def test_a_refused_call_is_the_models_to_act_on(
    client: SpoolClient,
    spool,
    server,
    keyword: str,
    name: str,
    arguments: Any,
    sent: str,
    error: str,
) -> None:
    question = f"{keyword} please"
    path, _, row = ask(client, spool, question)

    assert (row["status"], row["error_code"]) == ("complete", "")
    assert row["content"] == f"The tool returned Error: {error}."
    assert calls_of(row) == [
        {
            "id": "call_1",
            "name": name,
            "arguments": arguments,
            "result": f"Error: {error}",
            "error": error,
            "round": 1,
        }
    ]
    _, second = requests_for(server, question)
    assert second.body["messages"][-2:] == [
        assistant_turn(("call_1", name, sent)),
        {"role": "tool", "content": f"Error: {error}", "tool_call_id": "call_1"},
    ]
    page = client.http.get(path).text
    label = "Calculator" if name == "calculator" else "Weather"
    assert f"{label} failed: " in page


# Markup a model may put into a tool call: its name, its arguments, and so the
# error texts that quote them.
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
BOLD = "<b onmouseover=alert(3)>Paris</b>"


def test_tool_text_from_the_model_reaches_html_escaped_everywhere(
    client: SpoolClient, spool, server
) -> None:
    """A tool's name, arguments and error texts come from the model: the
    chips (running, finished), the announcement said through #sr-status, the
    stored answer and its page carry them as text, never as tags."""
    server.enqueue(
        Script.parallel_tool_calls(
            (IMG, {"q": SCRIPT}),  # unknown: the name is in the chip and the error
            ("calculator", {"expression": SCRIPT}),  # refused, quoting the expression
            ("clock", {"timezone": BOLD}),  # refused, quoting the time zone
        ),
        Script.text("Done."),
    )
    path, answer_id, row = ask(client, spool, "tools with markup")
    assert row["status"] == "complete"
    assert [c["error"] != "" for c in calls_of(row)] == [True, True, True]

    events = client.stream_until(answer_id, count("done", 1), last_event_id="0")
    page = client.http.get(path).text
    shown = {
        **{f"stream {e.event} {i}": e.data for i, e in enumerate(events)},
        "stored html": row["html"],
        "page": page,
    }
    for where, html in shown.items():
        for tag in ("<img", "<script>alert", "<b "):
            assert tag not in html, f"{tag} in the {where}: {html}"
    chips = [e.data for e in events if e.event == "tool"]
    assert len(chips) == 6  # three running, three finished
    assert any("Calculating &lt;script&gt;alert(2)&lt;/script&gt;" in c for c in chips)
    # Each failure is said once, its markup as text: escaped in the frame,
    # it reaches the region as the very characters (static/js/spool.js).
    said = [e.data for e in events if e.event == "status" and "failed" in e.data]
    assert len(said) == 3
    assert said[0].startswith("&lt;img src=x onerror=alert(1)&gt; failed: there is no tool")
    assert "&#x27;&lt;script&gt;alert(2)&lt;/script&gt;&#x27; is not a valid" in said[1]
    assert "unknown time zone &#x27;&lt;b onmouseover=alert(3)&gt;Paris&lt;/b&gt;&#x27;" in said[2]


def test_stop_during_a_tool_round_hangs_up_at_once(client: SpoolClient, spool, server) -> None:
    question = "stop me while the tool runs"
    # The call is made and the server holds the turn open: the chip is running.
    held = Script((ToolCallDelta("calculator", '{"expression": "2^10"}'),), name="held")
    server.enqueue(held.then(Finish("tool_calls")).then_stall(20))
    path, answer_id = client.start_conversation(question, model=MODEL)
    # In a snapshot (blocks) or as its own event, whichever the page connects to.
    events = client.stream_until(
        answer_id, lambda seen: any("Calculating 2^10 …" in e.data for e in seen)
    )
    assert events[-1].event in ("blocks", "tool"), events[-1]

    stopped_at = time.monotonic()
    seen = next((e.id for e in reversed(events) if e.id), "")
    r = client.post(f"/m/{answer_id}/stop", {"seen": seen}, headers={"HX-Request": "true"})
    assert r.status_code == 204
    record = server.wait_for_hangup(timeout=2, prompt=question)
    assert record.hung_up_at is not None
    assert record.hung_up_at - stopped_at < 0.25
    row = spool.wait_status(answer_id, "stopped")
    assert [c["name"] for c in calls_of(row)] == ["calculator"]
    time.sleep(0.5)
    assert len(requests_for(server, question)) == 1, "no request after Stop"

    # No chip spins after Stop: not on the page that watched (its events
    # applied to the end), not stored, not after a reload.
    after = client.stream_until(answer_id, count("done", 1), last_event_id=seen)
    live = PageModel().apply([*events, *after]).html
    assert live == row["html"]
    for html in (live, row["html"], answer_article(client.http.get(path).text, answer_id)):
        assert "Calculating 2^10" not in html
        assert "tool-chip-running" not in html
        assert "tool-chip-spinner" not in html
    # The calculator had answered when Stop came (the model held its turn
    # open): the chip says how the call ended, as the stored call does.
    assert "Calculated: 1024" in row["html"]
    assert calls_of(row)[0]["result"] == "1024"


def test_a_model_that_keeps_calling_tools_is_cut_after_the_last_round(
    client: SpoolClient, spool, server
) -> None:
    question = "loop on tools"
    server.enqueue(
        *(
            Script.tool_call("calculator", {"expression": f"{n}+1"}, call_id=f"call_{n}")
            for n in range(MAX_TOOL_ROUNDS + 1)
        )
    )
    path, answer_id, row = ask(client, spool, question)

    assert (row["status"], row["finish_reason"]) == ("truncated", "tool_rounds")
    assert len(requests_for(server, question)) == MAX_TOOL_ROUNDS + 1
    assert [(c["round"], c["result"]) for c in calls_of(row)] == [
        (n + 1, str(n + 1)) for n in range(MAX_TOOL_ROUNDS)
    ]
    count_ = MAX_TOOL_ROUNDS + 1
    assert (row["prompt_tokens"], row["output_tokens"]) == (
        count_ * PROMPT_TOKENS,
        count_ * COMPLETION_TOKENS,
    )
    page = client.http.get(path).text
    assert f"the model was still calling tools after {MAX_TOOL_ROUNDS} rounds" in page
    events: list[SSEEvent] = client.stream_until(answer_id, count("done", 1), last_event_id="0")
    assert "Answer cut short: the model kept calling tools." in [
        e.data for e in events if e.event == "status"
    ]


def finished(event: SSEEvent) -> bool:
    """The page's event with the finished chip of 2^10."""
    return event.event == "tool" and "Calculated: 1024" in event.data


def test_kill_9_after_a_tool_round_keeps_the_chip_in_its_place(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    """The checkpoint carries the calls made so far: after a kill -9 in the
    round after a call, the stored answer and the page show its chip between
    the text before it and the partial text after it, drawn as a finished
    answer is."""
    question = "killed after a tool round"
    before = "Let me work it out."
    after = "It is 1024. " + "Then more words stream slowly. " * 100
    server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}, before=before),
        Script.text(after, chunk_size=4, delay=0.02),
    )
    env = {
        "SPOOL_LLM_BASE_URL": server.base_url,
        "SPOOL_LLM_MODELS": MODEL,
        "SPOOL_LLM_TOOL_MODELS": "*",
        "SPOOL_DETACH_GRACE_S": "none",
    }
    with run_daphne(tmp_path, env) as first:
        c = SpoolClient(first.url).signup()
        path, answer_id = c.start_conversation(question, model=MODEL)
        # From the run's first event: the chip as its own event, as the stream drew it.
        events = c.stream_until(
            answer_id, lambda seen: any(finished(e) for e in seen), last_event_id="0"
        )
        finished_chip = next(e.data for e in events if finished(e))
        deadline = time.monotonic() + 20
        # A checkpoint of the round after the call (one a second).
        while "Then more words" not in first.message(answer_id)["content"]:
            assert time.monotonic() < deadline, "no checkpoint after the tool round"
            time.sleep(0.05)
        first.process.kill()  # SIGKILL: no shutdown, no final save
        first.process.wait(10)
    saved = first.message(answer_id)
    assert saved["status"] == "streaming"  # left so by the crash
    [call] = json.loads(saved["tool_calls"])
    assert (call["name"], call["arguments"], call["result"]) == (
        "calculator",
        {"expression": "2^10"},
        "1024",
    )

    with run_daphne(tmp_path, env) as again:
        c.http.base_url = again.url
        page = c.http.get(path).text  # the first read marks the leftover (one process)
        row = again.message(answer_id)
        assert row["status"] == "interrupted"
        content = row["content"]
        assert content.startswith(f"{before}\n\nIt is 1024.")
        partial = content.removeprefix(f"{before}\n\n")
        # The HTML a finished answer of that text and that call has.
        expected = render_markdown(before) + finished_chip + render_markdown(partial)
        assert row["html"] == expected
        article = answer_article(page, answer_id)
        assert expected in article
        assert article.index(before) < article.index("Calculated: 1024")
        assert article.index("Calculated: 1024") < article.index("It is 1024.")
        assert "tool-chip-running" not in article
    c.close()


def test_continue_keeps_the_chips_and_appends_after_them(
    client: SpoolClient, spool: DaphneServer, server: FakeOpenAIServer
) -> None:
    """An answer stopped in the round after a call, then continued: the chip
    stays where it was (stored, on the page live and after a reload) and the
    continuation goes on after the text that followed it."""
    key = f"[tool-cont-{uuid.uuid4().hex[:8]}]"
    before = "Let me work it out."
    after = "It is 1024. " + " ".join(f"Then word{i} follows." for i in range(150))
    whole = f"{before}\n\n{after}"
    server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}, before=before),
        Script.text(after, chunk_size=6, delay=0.02),
    )
    path, answer_id = client.start_conversation(f"{key} compute", model=MODEL)
    applied = client.stream_until(answer_id, lambda seen: "word3 " in PageModel().apply(seen).html)
    seen = next((e.id for e in reversed(applied) if e.id), "")
    r = client.post(f"/m/{answer_id}/stop", {"seen": seen}, headers={"HX-Request": "true"})
    assert r.status_code == 204
    stopped = spool.wait_status(answer_id, "stopped")
    [chip] = chips_of(stopped)
    assert chip[:2] == ("done", "Calculated: 1024")
    assert stopped["content"].startswith(f"{before}\n\nIt is 1024.")
    assert len(stopped["content"]) < len(whole)

    server.when_continuing(key, Script.continuation(whole, chunk_size=8, delay=0.002))
    r = client.post(f"/m/{answer_id}/continue", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    # The live answer shows the stored one at once: its chip in its place.
    live = answer_article(r.text, answer_id)
    assert live.index(before) < live.index("Calculated: 1024") < live.index("It is 1024.")
    events = client.stream_events(answer_id)
    assert events[-1].event == "done"
    row = spool.wait_status(answer_id, "complete")
    assert row["content"] == whole
    assert chips_of(row) == [chip]  # kept, where it was
    assert calls_of(row) == calls_of(stopped)
    finished_chip = re.search(r'<p class="tool-chip[^>]*>.*?</p>', stopped["html"])
    assert finished_chip
    assert row["html"] == render_markdown(before) + finished_chip[0] + render_markdown(after)
    # The page that watched the continuation, and a reload, show the same.
    assert PageModel().apply(events).html == row["html"]
    assert row["html"] in answer_article(client.http.get(path).text, answer_id)


def stream_calls(events: list[Any]) -> list[dict[str, Any]]:
    """The calls a program rebuilds from a JSON stream: each ``tool_start``,
    completed by its ``tool_result``, in order (a ``snapshot``'s calls first)."""
    calls: list[dict[str, Any]] = []
    for e in events:
        if e.event == "snapshot":
            calls = [dict(call) for call in e.data.get("tool_calls", [])]
        elif e.event == "tool_start":
            calls.append(dict(e.data))
        elif e.event == "tool_result":
            [call] = [c for c in calls if c["id"] == e.data["id"] and "ok" not in c]
            call.update({k: v for k, v in e.data.items() if k not in ("id", "name")})
    return calls


def stored_calls(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored calls as the JSON stream tells them (docs/streaming.md)."""
    return [
        {
            "id": call["id"],
            "name": call["name"],
            "arguments": call["arguments"],
            "ok": not call["error"],
            "result": call["result"],
            "error": call["error"] or None,
            "duration_ms": call["duration_ms"],
        }
        for call in json.loads(row["tool_calls"])
    ]


def test_a_continued_answers_json_stream_tells_its_earlier_calls(
    client: SpoolClient, spool: DaphneServer, server: FakeOpenAIServer
) -> None:
    """Two calls, Stop in the round after them, Continue: a program reading
    the continued answer's JSON stream from its start (or joining late) gets
    every stored call, in order, with its result; the page's stream neither
    draws their chips again nor says them again."""
    key = f"[tool-json-{uuid.uuid4().hex[:8]}]"
    before = "Let me work it out."
    after = "It is 1024 and 42. " + " ".join(f"Then word{i} follows." for i in range(150))
    server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}, before=before),
        Script.tool_call("calculator", {"expression": "6 * 7"}, call_id="call_2"),
        Script.text(after, chunk_size=6, delay=0.02),
    )
    _, answer_id = client.start_conversation(f"{key} compute", model=MODEL)
    applied = client.stream_until(answer_id, lambda seen: "word3 " in PageModel().apply(seen).html)
    seen = next((e.id for e in reversed(applied) if e.id), "")
    r = client.post(f"/m/{answer_id}/stop", {"seen": seen}, headers={"HX-Request": "true"})
    assert r.status_code == 204
    stopped = spool.wait_status(answer_id, "stopped")
    assert [c["result"] for c in calls_of(stopped)] == ["1024", "42"]

    server.when_continuing(key, Script.continuation(f"{before}\n\n{after}", chunk_size=8))
    r = client.post(f"/m/{answer_id}/continue", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    events = client.stream_until(answer_id, count("done", 1), last_event_id="0")
    row = spool.wait_status(answer_id, "complete")
    stored = stored_calls(row)
    assert [c["id"] for c in stored] == ["call_1", "call_2"]

    # From the run's first event: each call started, then told, in order.
    from_start = read_events(client.http, answer_id, after="0", until="final")
    told = [(e.event, e.data["id"]) for e in from_start if e.event.startswith("tool_")]
    assert told == [
        ("tool_start", "call_1"),
        ("tool_result", "call_1"),
        ("tool_start", "call_2"),
        ("tool_result", "call_2"),
    ]
    assert stream_calls(from_start) == stored
    assert ProgramText().apply(from_start).text == row["content"]
    # Joining late: the snapshot carries them.
    late = read_events(client.http, answer_id, until="final")
    assert late[0].event == "snapshot"
    assert stream_calls(late) == stored

    # The page's stream of the continuation: the chips are in its first
    # frame's block, drawn once, and no call is said again.
    assert not [e for e in events if e.event == "tool"]
    said = [e.data for e in events if e.event in ("status", "announce", "announce-done")]
    assert not [s for s in said if "Calculat" in s], said
    assert PageModel().apply(events).html == row["html"]
    assert row["html"].count("Calculated: 1024") == row["html"].count("Calculated: 42") == 1
    # A page that connects now gets the log's snapshot: each chip once too.
    assert PageModel().apply(client.stream_events(answer_id)).html == row["html"]


def test_a_5xx_in_the_round_after_a_call_is_continued_below_its_chip(
    client: SpoolClient, spool: DaphneServer, server: FakeOpenAIServer
) -> None:
    """Text, a call, then the model server answers the next round with a 503:
    the answer fails with its text and chip kept and offers Continue (a 5xx
    may pass); Continue starts below the chip, which stays where it was, with
    nothing glued between them ("out.\\n\\n It is" was stored before)."""
    key = f"[tool-5xx-{uuid.uuid4().hex[:8]}]"
    before = "Let me work it out."
    after = "It is 1024. " + " ".join(f"Then word{i} follows." for i in range(20))
    whole = f"{before}\n\n{after}"
    server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}, before=before),
        Script.http_error(503, "The engine is currently overloaded", type="server_error"),
    )
    path, answer_id, failed = ask(client, spool, f"{key} compute")
    assert (failed["status"], failed["error_code"]) == ("failed", "upstream_down")
    assert failed["error_retryable"]
    assert failed["content"] == before
    [chip] = chips_of(failed)
    assert chip[:2] == ("done", "Calculated: 1024")
    page = answer_article(client.http.get(path).text, answer_id)
    assert page.index(">Continue</button>") < page.index(">Retry</button>")

    server.when_continuing(key, Script.continuation(whole, chunk_size=8))
    r = client.post(f"/m/{answer_id}/continue", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    live = answer_article(r.text, answer_id)
    assert live.index(before) < live.index("Calculated: 1024")
    assert "The model server is having trouble" not in live
    # As the page that pressed Continue reads it (?replay=resumed): the stored
    # calls told again for programs are in its first frame, not drawn twice.
    events = page_stream(client, r.text)
    row = spool.wait_status(answer_id, "complete")
    assert row["content"] == whole
    assert (row["error_code"], row["error_message"]) == ("", "")
    assert chips_of(row) == [chip]  # kept, where it was
    assert calls_of(row) == calls_of(failed)
    finished_chip = re.search(r'<p class="tool-chip[^>]*>.*?</p>', failed["html"])
    assert finished_chip
    assert row["html"] == render_markdown(before) + finished_chip[0] + render_markdown(after)
    assert PageModel().apply(events).html == row["html"]
