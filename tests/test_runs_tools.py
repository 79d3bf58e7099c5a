"""The tool loop in a run: the OpenAI-compatible provider against the fake
model server, the real tools, the real database store, the memory log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from streaming.events import Event, EventType
from streaming.providers.base import ChatMessage, ToolSpec
from streaming.providers.demo import DemoProvider
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs import RunManager, RunSpec
from streaming.runs.chips import ChipRecord
from streaming.runs.segments import answer_html
from streaming.runs.tool_loop import MAX_TOOL_ROUNDS
from streaming.snapshot import fold
from streaming.tools import Tool, ToolRegistry, builtin_tools
from tests.fakes.scripts import Finish, Script, Stall
from tests.test_runs import _close_stores, manager, run_id, saved

# The fixtures, shared with tests/test_runs.py.
__all__ = ["_close_stores", "run_id"]

pytestmark = pytest.mark.django_db(transaction=True)


def tool_spec(answer: str, tools: ToolRegistry | None = None, question: str = "2^10?") -> RunSpec:
    return RunSpec(
        run_id=answer,
        user_id=1,
        model="fake",
        messages=[ChatMessage("user", question)],
        correlation_id="test",
        tools=tools or builtin_tools(),
    )


async def run_to_end(m: RunManager, answer: str, provider: Any, spec: RunSpec) -> list[Event]:
    m.start(spec, provider)
    await m.wait(answer)
    return (await m.log.read(answer, 0, 0)).events


def kinds(events: list[Event], *types: EventType) -> list[Event]:
    return [e for e in events if e.type in types]


async def test_one_call_runs_the_tool_and_streams_the_model_again(run_id, openai_server) -> None:
    openai_server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}, before="Let me work it out.")
    )
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    events = await run_to_end(m, run_id, provider, tool_spec(run_id))

    start, result = kinds(events, EventType.TOOL_START, EventType.TOOL_RESULT)
    assert (start.data["name"], start.data["args"], start.data["text"]) == (
        "calculator",
        {"expression": "2^10"},
        "Calculating 2^10 …",
    )
    assert (result.data["ok"], result.data["result"], result.data["text"]) == (
        True,
        "1024",
        "Calculated: 1024",
    )
    assert result.data["spoken"] == "Calculator: 1024"
    msg = await saved(run_id)
    assert msg.status == "complete"
    assert msg.content == "Let me work it out.\n\nThe tool returned 1024."
    # The chip sits between the text before the call and the text after it.
    assert msg.html.index("Let me work it out.") < msg.html.index("Calculated: 1024")
    assert msg.html.index("Calculated: 1024") < msg.html.index("The tool returned 1024.")
    assert "Calculating" not in msg.html
    # What a late subscriber sees, what a program rebuilds: what was saved.
    assert fold(events).html == msg.html
    assert fold(events).text == msg.content
    [call] = msg.tool_calls
    assert {k: v for k, v in call.items() if k != "duration_ms"} == {
        "id": "call_1",
        "name": "calculator",
        "arguments": {"expression": "2^10"},
        "result": "1024",
        "error": "",
        "round": 1,
        # The chip as shown, where shown: after the text before the call.
        "chip": {
            "id": start.data["chip"],
            "state": "done",
            "text": "Calculated: 1024",
            "at": len("Let me work it out."),
        },
    }
    assert call["duration_ms"] >= 0
    # Drawn again from the stored text and chips, it is the saved answer (a crash's).
    chips = [ChipRecord.from_dict(c["chip"]) for c in msg.tool_calls]
    assert answer_html(msg.content, [c for c in chips if c]) == msg.html
    # Usage of both requests, summed (the fake reports 11 + 7 per request).
    assert (msg.prompt_tokens, msg.output_tokens) == (22, 14)
    first, second = openai_server.chat_requests
    assert [t["function"]["name"] for t in first.body["tools"]] == ["calculator", "clock"]
    assert second.body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "Let me work it out.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "2^10"}'},
                }
            ],
        },
        {"role": "tool", "content": "1024", "tool_call_id": "call_1"},
    ]


async def test_a_model_offered_no_tools_gets_none(run_id, openai_server) -> None:
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    spec = tool_spec(run_id)
    events = await run_to_end(m, run_id, provider, RunSpec(**{**_fields(spec), "tools": None}))
    assert not kinds(events, EventType.TOOL_START)
    assert "tools" not in openai_server.chat_requests[0].body


def _fields(spec: RunSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


class Rendezvous:
    """A tool that answers only once ``count`` calls are running at the same
    time: called one after the other, the first would wait for the second
    until its timeout."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.running = 0
        self.all_in = asyncio.Event()

    def tool(self) -> Tool:
        async def run(arguments: Mapping[str, Any]) -> str:
            self.running += 1
            if self.running == self.count:
                self.all_in.set()
            await self.all_in.wait()
            return f"met {arguments.get('who')}"

        spec = ToolSpec("meet", "Wait for the others", {"type": "object"})
        return Tool(spec, run, lambda a: "Meeting", lambda a, r: r, timeout_s=2.0)


async def test_parallel_calls_run_concurrently_and_answer_in_call_order(
    run_id, openai_server
) -> None:
    openai_server.enqueue(
        Script.parallel_tool_calls(("meet", {"who": "a"}), ("meet", {"who": "b"}))
    )
    meeting = Rendezvous(2)
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    events = await run_to_end(
        m, run_id, provider, tool_spec(run_id, ToolRegistry([meeting.tool()]))
    )

    results = kinds(events, EventType.TOOL_RESULT)
    assert [(e.data["id"], e.data["ok"], e.data["result"]) for e in results] == [
        ("call_1", True, "met a"),
        ("call_2", True, "met b"),
    ]
    msg = await saved(run_id)
    assert [c["result"] for c in msg.tool_calls] == ["met a", "met b"]
    second = openai_server.chat_requests[1].body["messages"]
    assert [c["id"] for c in second[-3]["tool_calls"]] == ["call_1", "call_2"]
    assert second[-2:] == [
        {"role": "tool", "content": "met a", "tool_call_id": "call_1"},
        {"role": "tool", "content": "met b", "tool_call_id": "call_2"},
    ]


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (
            Script.tool_call("calculator", '{"expression": "2^'),
            "the arguments are not valid JSON; send a JSON object matching the tool's schema",
        ),
        (
            Script.tool_call("weather", {"city": "Paris"}),
            "there is no tool named 'weather' (available: calculator, clock)",
        ),
        (
            Script.tool_call("calculator", {"expression": "__import__('os')"}),
            "only numbers, + - * / // % ** ^ and parentheses are allowed; function calls are not",
        ),
    ],
    ids=["bad_json", "unknown_tool", "refused"],
)
async def test_a_refused_call_goes_back_to_the_model_as_its_result(
    run_id, openai_server, script: Script, error: str
) -> None:
    openai_server.enqueue(script)
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    await run_to_end(m, run_id, provider, tool_spec(run_id))

    msg = await saved(run_id)
    assert msg.status == "complete"
    assert msg.content == f"The tool returned Error: {error}."
    [call] = msg.tool_calls
    assert (call["error"], call["result"]) == (error, f"Error: {error}")
    assert "failed: " + error.replace("'", "&#x27;") in msg.html
    tool_message = openai_server.chat_requests[1].body["messages"][-1]
    assert tool_message == {"role": "tool", "content": f"Error: {error}", "tool_call_id": "call_1"}


async def test_calls_in_sequence_take_a_round_each(run_id, openai_server) -> None:
    openai_server.enqueue(
        Script.tool_call("calculator", {"expression": "6*7"}),
        Script.tool_call("calculator", {"expression": "42+1"}, call_id="call_2"),
    )
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    await run_to_end(m, run_id, provider, tool_spec(run_id))

    msg = await saved(run_id)
    assert [(c["round"], c["result"]) for c in msg.tool_calls] == [(1, "42"), (2, "43")]
    assert msg.content == "The tool returned 43."
    third = openai_server.chat_requests[2].body["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "tool", "assistant", "tool"]
    assert [m.get("tool_call_id") for m in third if m["role"] == "tool"] == ["call_1", "call_2"]


async def test_a_model_that_keeps_calling_tools_is_cut_after_the_last_round(
    run_id, openai_server
) -> None:
    openai_server.set_default(Script.tool_call("calculator", {"expression": "1+1"}))
    openai_server.after_tool(Script.tool_call("calculator", {"expression": "1+1"}))
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    events = await run_to_end(m, run_id, provider, tool_spec(run_id))

    msg = await saved(run_id)
    assert (msg.status, msg.finish_reason) == ("truncated", "tool_rounds")
    assert len(openai_server.chat_requests) == MAX_TOOL_ROUNDS + 1
    assert [c["round"] for c in msg.tool_calls] == list(range(1, MAX_TOOL_ROUNDS + 1))
    assert len(kinds(events, EventType.TOOL_START)) == MAX_TOOL_ROUNDS
    assert events[-1].data["finish_reason"] == "tool_rounds"


async def test_stop_during_a_tool_round_hangs_up_at_once_and_asks_no_more(
    run_id, openai_server
) -> None:
    # The call is made; the server holds the turn open (no usage, no [DONE]).
    openai_server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"})
        .then(Finish("tool_calls"))
        .then(Stall(10))
    )
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    m.start(tool_spec(run_id), provider)
    deadline = time.monotonic() + 5
    while not kinds((await m.log.read(run_id, 0, 0)).events, EventType.TOOL_START):
        assert time.monotonic() < deadline, "no chip"
        await asyncio.sleep(0.01)

    stopped_at = time.monotonic()
    assert await m.stop(run_id)
    record = await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)
    assert record.hung_up_at is not None
    assert record.hung_up_at - stopped_at < 0.25
    msg = await saved(run_id)
    assert msg.status == "stopped"
    [call] = msg.tool_calls
    assert call["name"] == "calculator"
    await asyncio.sleep(0.3)
    assert len(openai_server.chat_requests) == 1, "no further request after Stop"


async def test_the_demo_model_calls_the_calculator_for_arithmetic(run_id) -> None:
    m = manager()
    events = await run_to_end(
        m, run_id, DemoProvider(token_delay=0.001), tool_spec(run_id, question="What is 2^10?")
    )
    msg = await saved(run_id)
    assert msg.status == "complete"
    assert msg.content == "`2^10` is **1024**.\n\nWorked out exactly by the calculator tool."
    assert [(c["name"], c["arguments"], c["result"]) for c in msg.tool_calls] == [
        ("calculator", {"expression": "2^10"}, "1024")
    ]
    assert fold(events).html == msg.html
    assert msg.html.startswith('<p class="tool-chip tool-chip-done"')


async def test_a_tool_that_overruns_its_timeout_answers_with_an_error(
    run_id, openai_server
) -> None:
    async def slow(arguments: Mapping[str, Any]) -> str:
        await asyncio.sleep(10)
        return "too late"

    spec = ToolSpec("slow", "Takes its time", {"type": "object"})
    registry = ToolRegistry([Tool(spec, slow, lambda a: "Waiting", lambda a, r: r, 0.05)])
    openai_server.enqueue(Script.tool_call("slow", {}))
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    await run_to_end(m, run_id, provider, tool_spec(run_id, registry))

    msg = await saved(run_id)
    error = "slow took longer than 0.05 s and was stopped"
    assert (msg.status, msg.content) == ("complete", f"The tool returned Error: {error}.")
    assert [(c["error"], c["result"]) for c in msg.tool_calls] == [(error, f"Error: {error}")]
    assert "Slow failed: " + error in msg.html


async def test_stop_while_a_tool_runs_shows_its_chip_stopped(run_id, openai_server) -> None:
    """A call still running at Stop: the stored answer and the page's last
    frames show its chip stopped, never the spinner of a running one."""
    started = asyncio.Event()

    async def slow(arguments: Mapping[str, Any]) -> str:
        started.set()
        await asyncio.sleep(10)
        return "too late"

    spec = ToolSpec("slow", "Takes its time", {"type": "object"})
    registry = ToolRegistry([Tool(spec, slow, lambda a: "Waiting", lambda a, r: r, 20.0)])
    openai_server.enqueue(Script.tool_call("slow", {}, before="Let me wait."))
    m = manager()
    provider = OpenAICompatProvider(openai_server.base_url, "k")
    m.start(tool_spec(run_id, registry), provider)
    await asyncio.wait_for(started.wait(), 5)
    assert await m.stop(run_id)
    await m.wait(run_id)

    msg = await saved(run_id)
    assert msg.status == "stopped"
    [call] = msg.tool_calls
    assert call["error"] == "Stopped before it finished."
    assert "tool-chip-running" not in msg.html
    assert "tool-chip-spinner" not in msg.html
    assert '<p class="tool-chip tool-chip-stopped"' in msg.html
    assert "Slow stopped before it finished" in msg.html
    assert msg.html.index("Let me wait.") < msg.html.index("tool-chip-stopped")
    # What a page that watched shows now: its events applied, in order.
    events = (await m.log.read(run_id, 0, 0)).events
    assert fold(events).html == msg.html
