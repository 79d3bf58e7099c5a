"""A run with a reasoning model: the thinking travels and is stored apart from
the answer, with honest timings; Stop while thinking keeps it; the log folds
and compacts it like the answer (real runs against the fake model server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from chatapp.models import Message
from streaming.events import Event, EventType
from streaming.metrics import RunClock
from streaming.providers.base import ToolSpec
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs.spec import Budgets
from streaming.snapshot import compact, compact_prefix, fold
from streaming.tools import Tool, ToolRegistry
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Reasoning, Script, ToolCallDelta
from tests.test_runs import _close_stores, all_events, manager, saved, spec  # noqa: F401
from tests.test_runs import run_id as run_id  # the fixture
from tests.test_runs_tools import tool_spec

pytestmark = pytest.mark.django_db(transaction=True)

THOUGHT = "First I compare a and b.\n\nThen **b** wins, clearly."
ANSWER = "The answer is **b**.\n\nBecause it is larger."
# A hang-up must reach the model server this soon after Stop (the figure).
HANGUP_WITHIN_S = 0.25
TOOL_S = 1.0


def kinds(events: list[Event]) -> list[EventType]:
    return [e.type for e in events]


def joined(events: list[Event], kind: EventType) -> str:
    return "".join(e.data["text"] for e in events if e.type is kind)


@pytest.mark.parametrize(
    "script",
    [
        Script.reasoning_then_text(THOUGHT, ANSWER, field="reasoning_content"),
        Script.reasoning_then_text(THOUGHT, ANSWER, field="reasoning"),
        Script.reasoning_then_text(THOUGHT, ANSWER, field="reasoning_text"),
        Script.think_tags(THOUGHT, ANSWER, chunk_size=3),
    ],
    ids=["reasoning_content", "reasoning", "reasoning_text", "think_tags"],
)
async def test_reasoning_and_answer_are_stored_exactly_apart(
    run_id: str, openai_server: FakeOpenAIServer, script: Script
) -> None:
    openai_server.enqueue(script)
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)

    msg = await saved(run_id)
    assert (msg.status, msg.content, msg.reasoning) == ("complete", ANSWER, THOUGHT)
    assert "<strong>b</strong>" in msg.reasoning_html
    assert "compare" not in msg.html
    # The log carries both apart, and the thinking is over before the answer starts.
    assert joined(events, EventType.REASONING_DELTA) == THOUGHT
    assert joined(events, EventType.DELTA) == ANSWER
    order = kinds(events)
    thinking = next(i for i, e in enumerate(events) if e.data.get("state") == "thinking")
    assert thinking < order.index(EventType.REASONING_DELTA)
    assert order.count(EventType.REASONING_DONE) == 1
    assert order.index(EventType.REASONING_DONE) < order.index(EventType.DELTA)
    # "Generating answer…" is not said over "Thinking…".
    assert not any(e.data.get("state") == "generating" for e in events)
    # Both times to first token, the thinking's duration and its tokens (estimated: no details).
    assert msg.ttft_ms is not None
    assert msg.answer_ttft_ms is not None
    assert msg.answer_ttft_ms >= msg.ttft_ms
    assert msg.reasoning_ms is not None
    assert msg.reasoning_tokens == round(len(THOUGHT) / 4)
    assert msg.reasoning_tokens_estimated
    # A late subscriber's snapshot holds the reasoning apart too.
    snap = fold(events)
    assert (snap.text, snap.reasoning.text) == (ANSWER, THOUGHT)
    assert snap.reasoning.done
    assert snap.reasoning.html == msg.reasoning_html


async def test_reasoning_tokens_reported_by_the_server_are_kept(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(Script.reasoning_then_text(THOUGHT, ANSWER, reasoning_tokens=5))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.reasoning_tokens, msg.reasoning_tokens_estimated) == (5, False)
    # The server's completion tokens: the reasoning's included.
    assert msg.output_tokens == round(len(THOUGHT + ANSWER) / 4)
    usage = next(e for e in events if e.type is EventType.USAGE)
    assert usage.data["reasoning_tokens"] == 5


async def test_stop_while_thinking_keeps_the_thoughts_and_hangs_up(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    thought = "Weighing it. " * 200
    openai_server.enqueue(Script((Reasoning(thought, 6, 0.01),), name="thinking"))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(0.5)
    stopped_at = asyncio.get_running_loop().time()
    assert await m.stop(run_id)
    record = await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)
    hung_up_after = record.hung_up_at - stopped_at if record.hung_up_at else None
    assert hung_up_after is not None
    assert hung_up_after < HANGUP_WITHIN_S
    msg = await saved(run_id)
    assert (msg.status, msg.content) == ("stopped", "")
    assert msg.reasoning
    assert thought.startswith(msg.reasoning)
    assert msg.reasoning_ms is not None
    events = (await m.log.read(run_id, 0, 0)).events
    assert joined(events, EventType.REASONING_DELTA) == msg.reasoning
    assert kinds(events).count(EventType.REASONING_DONE) == 1


async def test_a_broken_stream_while_thinking_keeps_the_thoughts(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(
        Script.text("<think>half a thought </thi", chunk_size=5, finish=None).then_abrupt_close()
    )
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.error_code) == ("failed", "stream_broken")
    assert (msg.reasoning, msg.content) == ("half a thought </thi", "")


async def test_an_idle_timeout_while_a_tag_is_half_received_keeps_every_character(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """The server stalls after "</thi": the parser holds those characters for
    the next chunk, which never comes; the run gives up and takes them."""
    openai_server.enqueue(
        Script.text("<think>half a thought </thi", chunk_size=5, finish=None).then_stall(10)
    )
    budgets = Budgets(idle_timeout_s=0.5, wall_clock_s=30, max_output_tokens=4000)
    m = manager(budgets=budgets)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.error_code) == ("failed", "timeout")
    assert (msg.reasoning, msg.content) == ("half a thought </thi", "")
    assert joined(events, EventType.REASONING_DELTA) == msg.reasoning
    assert openai_server.wait_for_hangup(2.0).hung_up_at is not None


async def test_a_stop_while_a_tag_is_half_received_keeps_only_what_was_shown(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(
        Script.text("<think>half a thought </thi", chunk_size=5, finish=None).then_stall(10)
    )
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(0.5)
    assert await m.stop(run_id)
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.reasoning) == ("stopped", "half a thought ")


async def test_thinking_again_after_a_tool_adds_up_without_the_tool_time(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """Round 1 thinks and calls a tool that takes 1 s; round 2 thinks again and
    answers: reasoning_ms is both thinking periods, not the tool's second."""

    async def nap(arguments: Mapping[str, Any]) -> str:
        await asyncio.sleep(TOOL_S)
        return "rested"

    tool = Tool(
        ToolSpec("nap", "Rest", {"type": "object"}), nap, lambda a: "Resting", lambda a, r: r
    )
    thought = Reasoning("Weighing it. " * 8, chunk_size=13, delay=0.05)
    openai_server.enqueue(
        Script((thought, ToolCallDelta("nap", "{}")), name="think-call").then_finish("tool_calls")
    )
    openai_server.enqueue(
        Script.reasoning_then_text("Now I know. " * 8, ANSWER, chunk_size=12, delay=0.05)
    )
    m = manager()
    m.start(
        tool_spec(run_id, ToolRegistry([tool])), OpenAICompatProvider(openai_server.base_url, "k")
    )
    events = await all_events(m, run_id)

    msg = await saved(run_id)
    assert (msg.status, msg.content) == ("complete", ANSWER)
    assert msg.reasoning == "Weighing it. " * 8 + "Now I know. " * 8
    # Two periods of 7 chunk gaps of 50 ms each, at the least; the nap is not in it.
    assert msg.reasoning_ms is not None
    assert 2 * 7 * 50 <= msg.reasoning_ms < TOOL_S * 1000
    done = [e.data for e in events if e.type is EventType.REASONING_DONE]
    assert [d.get("again", False) for d in done] == [False, True]
    assert done[-1]["duration_ms"] == msg.reasoning_ms
    assert done[0]["duration_ms"] < done[-1]["duration_ms"]
    # "Thinking…" is said once.
    assert sum(e.data.get("state") == "thinking" for e in events) == 1
    assert fold(events).reasoning.duration_ms == msg.reasoning_ms


def test_tokens_per_second_count_the_thinking_and_its_time() -> None:
    """50 tokens (the reasoning's included) from the first thought shown at
    1 s to the end at 6 s: 10 tokens/s, not 50 over the answer's last second."""
    clock = RunClock(accepted_at=0.0, started_at=0.1, provider_first_at=0.9)
    clock.reasoning_frame_at, clock.first_frame_at, clock.ended_at = 1.0, 5.0, 6.0
    metrics = clock.metrics(
        text="answer", prompt_tokens=3, completion_tokens=50, reasoning="r" * 160,
        reasoning_tokens=40, reasoning_ms=3900.0,
    )  # fmt: skip
    assert metrics.tokens_per_s == 10.0
    assert (metrics.ttft_ms, metrics.answer_ttft_ms) == (1000.0, 5000.0)
    assert (metrics.reasoning_tokens, metrics.reasoning_tokens_estimated) == (40, False)
    # Without usage: both parts estimated, the thinking's counted in the output.
    estimated = clock.metrics(
        text="a" * 40, prompt_tokens=None, completion_tokens=None, reasoning="r" * 160
    )
    assert (estimated.output_tokens, estimated.reasoning_tokens) == (50, 40)
    assert estimated.reasoning_tokens_estimated


def ev(offset: int, type: EventType, **data: object) -> Event:
    return Event(offset, type, dict(data))


LOG = [
    ev(1, EventType.STATUS, state="streaming"),
    ev(2, EventType.STATUS, state="thinking", since=100.0),
    ev(3, EventType.REASONING_DELTA, text="Hm, "),
    ev(4, EventType.REASONING_TAIL, html="<p>Hm,</p>"),
    ev(5, EventType.REASONING_DELTA, text="yes.\n\n"),
    ev(6, EventType.REASONING_BLOCK, html="<p>Hm, yes.</p>"),
    ev(7, EventType.REASONING_TAIL, html=""),
    ev(8, EventType.REASONING_DONE, duration_ms=1500.0),
    ev(9, EventType.DELTA, text="Yes"),
    ev(10, EventType.TAIL, html="<p>Yes</p>"),
    ev(11, EventType.FINAL, status="complete"),
]


def test_fold_keeps_the_reasoning_apart_from_the_answer() -> None:
    snap = fold(LOG)
    assert (snap.html, snap.text) == ("<p>Yes</p>", "Yes")
    r = snap.reasoning
    assert (r.html, r.text, r.since, r.duration_ms, r.done) == (
        "<p>Hm, yes.</p>", "Hm, yes.\n\n", 100.0, 1500.0, True
    )  # fmt: skip
    thinking = fold(LOG[:5]).reasoning
    assert (thinking.html, thinking.done, thinking.since) == ("<p>Hm,</p>", False, 100.0)


@pytest.mark.parametrize("count", range(2, len(LOG) + 1))
def test_compaction_keeps_the_reasoning_for_late_readers(count: int) -> None:
    """A log folded at any point reads to the same reasoning, from any offset."""
    for compacted in (compact_prefix(LOG, count), compact(LOG[:count]) + LOG[count:]):
        assert fold(compacted).reasoning == fold(LOG).reasoning
        for after in range(len(LOG)):
            applied = fold(LOG[:after])
            rest = [e for e in compacted if e.offset > after]
            resumed = fold([*_as_events(applied), *rest]).reasoning
            assert resumed.text == fold(LOG).reasoning.text


def _as_events(snap: object) -> list[Event]:
    """What a reader that applied a prefix holds, as one replace (a snapshot)."""
    from streaming.snapshot import Snapshot

    assert isinstance(snap, Snapshot)
    data = {"html": snap.blocks_html, "tail": snap.tail_html, "text": snap.text}
    if snap.reasoning.started:
        data["reasoning"] = snap.reasoning.as_data()  # type: ignore[assignment]
    return [ev(snap.offset, EventType.REPLACE, **data)] if snap.offset else []


async def test_history_never_sends_reasoning_back(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """The next turn's prompt holds the stored answer only (chatapp/selectors.py)."""
    from asgiref.sync import sync_to_async

    from chatapp import selectors

    openai_server.enqueue(Script.reasoning_then_text(THOUGHT, ANSWER))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)

    def next_prompt() -> list[tuple[str, str]]:
        answer = Message.objects.get(id=run_id)
        question = Message.objects.create(
            conversation=answer.conversation, role="user", content="and?", parent=answer
        )
        following = Message.objects.create(
            conversation=answer.conversation, reply_to=question, role="assistant", model="fake"
        )
        fitted = selectors.prompt_for(answer=following, system="", budget=10_000)
        return [(c.role, c.content) for c in fitted.messages]

    assert await sync_to_async(next_prompt)() == [
        ("user", "hi"),
        ("assistant", ANSWER),
        ("user", "and?"),
    ]


async def test_a_long_think_is_checkpointed_while_it_lasts(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """The row shows a live run's progress while the model thinks (a crash keeps
    the thoughts so far; another process sees a fresh checkpoint)."""
    thought = "Pondering. " * 300
    openai_server.enqueue(Script((Reasoning(thought, 6, 0.005),), name="long_think"))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    checkpointed = ""
    for _ in range(100):
        await asyncio.sleep(0.05)
        row = await saved(run_id)
        if row.status == "streaming" and row.reasoning:
            checkpointed = row.reasoning
            break
    await m.stop(run_id)
    await m.wait(run_id)
    assert checkpointed, "no checkpoint of the thinking while it lasted"
    assert thought.startswith(checkpointed)
    assert (await saved(run_id)).content == ""


def _stored_thinking(run_id: str) -> None:
    """The answer as a first run left it: stopped after thinking and some text."""
    Message.objects.filter(id=run_id).update(
        status="stopped", content="Partial", html="<p>Partial</p>", reasoning="Old thought.",
        reasoning_html="<p>Old thought.</p>\n", reasoning_ms=1200.0, reasoning_tokens=3,
    )  # fmt: skip


async def test_a_continue_that_does_not_think_keeps_the_stored_thinking(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    from dataclasses import replace

    from asgiref.sync import sync_to_async

    from streaming.runs.spec import Resume
    from streaming.runs.store import RunMetrics

    await sync_to_async(_stored_thinking)(run_id)
    openai_server.enqueue(Script.text(" answer, slowly finished.", chunk_size=2, delay=0.1))
    earlier = RunMetrics(reasoning_ms=1200.0, reasoning_tokens=3)
    resume = Resume("Partial", earlier, verbatim=True, reasoning="Old thought.")
    m = manager()
    m.start(replace(spec(run_id), resume=resume), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(1.3)  # past a checkpoint: it must not blank the thinking either
    assert (await saved(run_id)).reasoning == "Old thought."
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.content == "Partial answer, slowly finished."
    assert (msg.reasoning, msg.reasoning_html) == ("Old thought.", "<p>Old thought.</p>\n")
    assert (msg.reasoning_ms, msg.reasoning_tokens) == (1200.0, 3)


async def test_a_continue_that_thinks_again_adds_to_the_stored_thinking(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """The stored thinking is kept, resent first (unsaid), and the continuation's
    thinking follows it as a paragraph of its own; the time and tokens add up."""
    from asgiref.sync import sync_to_async

    from streaming.runs.spec import Resume
    from streaming.runs.store import RunMetrics

    await sync_to_async(_stored_thinking)(run_id)
    openai_server.enqueue(
        Script.reasoning_then_text("New thought.", " answer, finished.", chunk_size=3, delay=0.05)
    )
    earlier = RunMetrics(reasoning_ms=1200.0, reasoning_tokens=3)
    resume = Resume("Partial", earlier, verbatim=True, reasoning="Old thought.")
    m = manager()
    from dataclasses import replace

    began = time.monotonic()
    m.start(replace(spec(run_id), resume=resume), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    took_ms = (time.monotonic() - began) * 1000

    msg = await saved(run_id)
    assert msg.content == "Partial answer, finished."
    assert msg.reasoning == "Old thought.\n\nNew thought."
    assert msg.reasoning_html == "<p>Old thought.</p>\n<p>New thought.</p>\n"
    # The stored 1,200 ms plus this part's thinking: some time, at most the
    # run's own. (Not "at least the server's 50 ms gaps": the client times the
    # chunks as they arrive, and under load the first can arrive late.)
    assert msg.reasoning_ms is not None
    assert 1200.0 < msg.reasoning_ms <= 1200.0 + took_ms
    assert msg.reasoning_tokens is not None
    assert msg.reasoning_tokens > 3
    # The stored thinking comes first in the log, its summary updated unsaid;
    # "Thinking…" is said once for the new period, whose end is unsaid too.
    done = [e.data for e in events if e.type is EventType.REASONING_DONE]
    assert done[0] == {"duration_ms": 1200.0, "again": True}
    assert done[-1] == {"duration_ms": msg.reasoning_ms, "again": True}
    assert sum(e.data.get("state") == "thinking" for e in events) == 1
    assert joined(events, EventType.REASONING_DELTA) == msg.reasoning
    folded = fold(events).reasoning
    assert (folded.text, folded.duration_ms) == (msg.reasoning, msg.reasoning_ms)
