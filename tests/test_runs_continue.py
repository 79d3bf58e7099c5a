"""A run that continues a stored partial answer (Continue): the real provider
against the fake model server, the real database store, the memory log."""

from __future__ import annotations

import asyncio

import pytest

from streaming.events import EventType
from streaming.markdown import render_markdown
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs import Resume, RunMetrics, RunSpec
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
