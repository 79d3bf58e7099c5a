"""A run that continues a stored partial answer (Continue): the real provider
against the fake model server, the real database store, the memory log."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from chatapp.json_projection import payload
from streaming.events import EventType
from streaming.markdown import render_markdown
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs import Resume, RunMetrics, RunSpec, chips
from streaming.runs.chips import ChipRecord
from streaming.runs.frames import resumed_through
from streaming.runs.store import STOPPED_CALL, ToolRecord
from streaming.snapshot import fold
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.test_runs import all_events, manager, run_id, saved, spec

__all__ = ["run_id"]  # the fixture, shared with tests/test_runs.py

pytestmark = pytest.mark.django_db(transaction=True)

PARTIAL = "## Plan\n\nFirst we measure. Then we cut the quick brown fox jum"
EARLIER = RunMetrics(
    ttft_ms=120.0,
    provider_ttft_ms=90.0,
    duration_ms=1000.0,
    prompt_tokens=20,
    output_tokens=15,
    tokens_per_s=15.0,
)


def resumed(
    run_id: str, *, verbatim: bool = False, text: str = PARTIAL, metrics: RunMetrics = EARLIER
) -> RunSpec:
    base = spec(run_id)
    return RunSpec(
        run_id=base.run_id,
        user_id=base.user_id,
        model=base.model,
        messages=base.messages,
        correlation_id=base.correlation_id,
        resume=Resume(text=text, metrics=metrics, verbatim=verbatim),
    )


async def test_the_run_starts_from_the_partial_and_trims_the_repeat(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(
        Script.text("the quick brown fox jumps over the dog.", chunk_size=3, usage=(40, 9))
    )
    m = manager()
    m.start(resumed(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)

    joined = PARTIAL.replace("jum", "jumps over the dog.")
    deltas = [e.data["text"] for e in events if e.type is EventType.DELTA]
    assert deltas[0] == PARTIAL  # the stored text first, whole
    assert "".join(deltas) == joined
    # The first frame shows the stored answer as the run's renderer sees it.
    first_content = next(i for i, e in enumerate(events) if e.type is EventType.TAIL)
    assert fold(events[: first_content + 1]).html == render_markdown(PARTIAL)
    assert fold(events).html == render_markdown(joined)
    assert not [e for e in events if e.type is EventType.ANNOUNCE and "Plan" in e.data["text"]]

    msg = await saved(run_id)
    assert msg.status == "complete"
    assert msg.content == joined
    assert msg.html == render_markdown(joined)
    # One message, summed metrics; the first part's time to first token.
    assert msg.ttft_ms == 120.0
    assert msg.provider_ttft_ms == 90.0
    assert msg.output_tokens == 15 + 9
    assert msg.prompt_tokens == 20 + 40
    assert msg.duration_ms is not None
    assert msg.duration_ms > 1000.0


async def test_a_part_without_usage_leaves_the_answers_prompt_tokens_unknown(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """The stored part was stopped before the server said its usage: its
    prompt tokens are unknown, so the answer's are (the continuation's alone
    are not the answer's count), and its output, estimated, makes the sum one."""
    openai_server.enqueue(
        Script.text("the quick brown fox jumps over the dog.", chunk_size=3, usage=(40, 9))
    )
    stopped = RunMetrics(duration_ms=1000.0, output_tokens=15, output_tokens_estimated=True)
    m = manager()
    m.start(resumed(run_id, metrics=stopped), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)

    msg = await saved(run_id)
    assert msg.prompt_tokens is None
    assert (msg.output_tokens, msg.output_tokens_estimated) == (15 + 9, True)


async def test_a_prefill_continuation_is_kept_as_written(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(Script.text("ps over.", chunk_size=2))
    m = manager()
    m.start(resumed(run_id, verbatim=True), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    assert (await saved(run_id)).content == PARTIAL + "ps over."


async def test_a_stop_before_anything_new_was_seen_keeps_the_partial_as_stored(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(Script.text(" tick" * 400, chunk_size=5, delay=0.01))
    m = manager()
    partial = PARTIAL + "\n\n"
    m.start(resumed(run_id, text=partial), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(0.5)
    events = (await m.log.read(run_id, 0, 0)).events
    assert "".join(e.data["text"] for e in events if e.type is EventType.DELTA).count("tick") > 3
    # The page had applied only the status event (offset 1) when Stop came.
    assert await m.stop(run_id, seen_offset=1)
    assert (await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)).hung_up
    msg = await saved(run_id)
    assert msg.status == "stopped"
    assert msg.content == partial


async def test_a_continuation_that_fails_keeps_the_partial(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(Script.http_error(500, "boom", type="server_error"))
    m = manager()
    m.start(resumed(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.status == "failed"
    assert msg.content == PARTIAL
    assert msg.ttft_ms == 120.0


async def test_the_stored_calls_are_told_again_for_programs_not_for_pages(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """A Continue's run tells the stored calls first (``resumed``), each
    ``tool_start`` then ``tool_result`` as the JSON stream gives them, in
    order: one finished, one stopped before it ended, one stored before
    chips were kept. The page's fold draws each chip once (from the first
    frame), and the answer saved keeps the calls as they were."""
    before, middle, rest = "Let me work it out.", "It is 1024.", "Then the next"
    text = f"{before}\n\n{middle}\n\n{rest}"
    done = ChipRecord("tool-x-1", chips.DONE, "Calculated: 1024", len(before))
    stopped = ChipRecord(
        "tool-x-2", chips.STOPPED, "Clock stopped before it finished", len(f"{before}\n\n{middle}")
    )
    calls = (
        ToolRecord("call_1", "calculator", {"expression": "2^10"}, "1024", "", 3.5, 1, done),
        ToolRecord("call_2", "clock", {"timezone": "UTC"}, "", STOPPED_CALL, None, 2, stopped),
        ToolRecord("call_0", "calculator", "not json", "Error: no", "no", 1.0, 1),
    )
    openai_server.enqueue(Script.text(" step.", chunk_size=3))
    base = resumed(run_id, text=text)
    assert base.resume is not None
    m = manager()
    m.start(
        dataclasses.replace(base, resume=dataclasses.replace(base.resume, tool_calls=calls)),
        OpenAICompatProvider(openai_server.base_url, "k"),
    )
    events = await all_events(m, run_id)

    told = [payload(e) for e in events if e.type in (EventType.TOOL_START, EventType.TOOL_RESULT)]
    assert [named[0] if named else None for named in told] == ["tool_start", "tool_result"] * 3
    rebuilt = [
        {**start[1], **{k: v for k, v in result[1].items() if k not in ("id", "name")}}
        for start, result in zip(told[::2], told[1::2], strict=True)
        if start is not None and result is not None
    ]
    msg = await saved(run_id)
    assert msg.content == f"{text} step."
    assert msg.tool_calls == [call.as_dict() for call in calls]
    assert rebuilt == [
        {
            "id": call.id,
            "name": call.name,
            "arguments": call.arguments,
            "ok": not call.error,
            "result": call.result,
            "error": call.error or None,
            "duration_ms": call.duration_ms,
        }
        for call in calls
    ]
    # Nothing said, each chip drawn once: by the first frame, not again.
    assert not [e for e in events if e.type is EventType.TOOL_RESULT and e.data["spoken"]]
    assert fold(events).html == msg.html
    assert msg.html.count("Calculated: 1024") == msg.html.count("Clock stopped before") == 1
    assert [call["id"] for call in fold(events).tool_calls] == ["call_1", "call_2", "call_0"]


async def test_resumed_through_marks_the_end_of_the_stored_answers_frame(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    """The stored answer, its calls told again and its thinking come first (not
    said); what the page that pressed Continue replays starts right after them
    (views/stream.py)."""
    openai_server.enqueue(Script.text("the quick brown fox jumps over the dog.", chunk_size=3))
    chip = ChipRecord("tool-x-1", chips.DONE, "Calculated: 1024", len("## Plan"))
    call = ToolRecord("call_1", "calculator", {"expression": "2^10"}, "1024", "", 3.5, 1, chip)
    base = resumed(run_id)
    spec_ = RunSpec(
        run_id=base.run_id,
        user_id=base.user_id,
        model=base.model,
        messages=base.messages,
        correlation_id=base.correlation_id,
        resume=Resume(
            text=PARTIAL,
            metrics=EARLIER,
            verbatim=False,
            reasoning="I thought.",
            tool_calls=(call,),
        ),
    )
    m = manager()
    m.start(spec_, OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)

    end = resumed_through(events)
    assert end is not None
    stored = [e for e in events if e.offset <= end]
    assert stored[-1].type is EventType.REASONING_DONE
    assert [e.type for e in stored if e.type.startswith("tool_")] == [
        EventType.TOOL_START,
        EventType.TOOL_RESULT,
    ]
    assert "Calculated: 1024" in fold(stored).html
    assert fold(stored).html.count("<p>") == render_markdown(PARTIAL).count("<p>")
    rest = [e for e in events if e.offset > end]
    assert "".join(e.data["text"] for e in rest if e.type is EventType.DELTA) == "ps over the dog."
    assert resumed_through(events[:3]) is None  # the frame not written yet: unknown
