"""The run core: a real provider against the fake model server, the real
database store, the in-memory event log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from chatapp.models import Conversation, Message
from chatapp.run_store import DjangoRunStore
from streaming.eventlog.memory import MemoryEventLog
from streaming.events import Event, EventType
from streaming.providers.base import (
    ChatMessage,
    ProviderEvent,
    ReasoningEffort,
    TextDelta,
    ToolSpec,
)
from streaming.providers.errors import MAX_SHOWN_RETRY_AFTER_S
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs import Budgets, RunManager, RunSpec
from streaming.runs.run import FRAME_INTERVAL_S
from streaming.snapshot import fold
from tests.fakes.scripts import Script, Stall

pytestmark = pytest.mark.django_db(transaction=True)

BUDGETS = Budgets(idle_timeout_s=2.0, wall_clock_s=30.0, max_output_tokens=4000)


def _make_message() -> str:
    user = User.objects.create_user(f"u{time.monotonic_ns()}")
    conv = Conversation.objects.create(user=user, model="fake")
    q = Message.objects.create(conversation=conv, role="user", content="hi")
    answer = Message.objects.create(
        conversation=conv, reply_to=q, role="assistant", status="pending", model="fake"
    )
    return str(answer.id)


@pytest.fixture
async def run_id() -> str:
    return await sync_to_async(_make_message)()


_stores: list[DjangoRunStore] = []


@pytest.fixture(autouse=True)
async def _close_stores() -> AsyncIterator[None]:
    """Each store has a thread and a connection of its own: end them with the test."""
    yield
    while _stores:
        await _stores.pop().aclose()


def manager(*, grace: float | None = None, budgets: Budgets = BUDGETS) -> RunManager:
    store = DjangoRunStore()
    _stores.append(store)
    return RunManager(log=MemoryEventLog(), store=store, budgets=budgets, detach_grace=grace)


def spec(run_id: str) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        user_id=1,
        model="fake",
        messages=[ChatMessage("user", "hi")],
        correlation_id="test",
    )


async def all_events(m: RunManager, run_id: str) -> list[Event]:
    await m.wait(run_id)
    return (await m.log.read(run_id, 0, 0)).events


async def saved(run_id: str) -> Message:
    return await Message.objects.aget(id=run_id)


async def test_complete_run_saves_content_html_and_metrics(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("Hello **world**.\n\nSecond paragraph.", chunk_size=3))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    assert events[0].type is EventType.STATUS
    assert events[-1].type is EventType.FINAL
    assert events[-1].data["status"] == "complete"
    msg = await saved(run_id)
    assert msg.status == "complete"
    assert msg.content == "Hello **world**.\n\nSecond paragraph."
    assert "<strong>world</strong>" in msg.html
    assert msg.output_tokens == 7  # provider usage wins over the estimate
    assert not msg.output_tokens_estimated
    assert msg.ttft_ms is not None
    assert msg.ttft_ms >= 0


async def test_deltas_are_coalesced_into_frames(run_id, openai_server) -> None:
    text = "word " * 400
    openai_server.enqueue(Script.text(text, chunk_size=2, delay=0.001))
    m = manager()
    started = time.monotonic()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    elapsed = time.monotonic() - started
    deltas = [e for e in events if e.type is EventType.DELTA]
    assert "".join(e.data["text"] for e in deltas) == text
    # 1000 provider chunks, at most one frame per interval (plus the first and last).
    assert len(deltas) <= elapsed / FRAME_INTERVAL_S + 3
    assert len(deltas) < 1000 / 4


async def test_stop_closes_upstream_and_saves_partial(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("tick " * 500, chunk_size=5, delay=0.01))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(0.5)
    assert await m.stop(run_id)
    record = await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)
    assert record.hung_up
    msg = await saved(run_id)
    assert msg.status == "stopped"
    assert msg.content.startswith("tick tick")
    assert len(msg.content) < len("tick " * 500)
    events = (await m.log.read(run_id, 0, 0)).events
    assert events[-1].data["status"] == "stopped"
    # After "Stopped" nothing more is read out to screen readers.
    final_at = next(i for i, e in enumerate(events) if e.type is EventType.FINAL)
    assert not any(e.type is EventType.ANNOUNCE for e in events[final_at - 1 :])


async def test_stop_is_clamped_to_the_event_the_page_applied(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("abcdefghij" * 100, chunk_size=10, delay=0.02))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(0.4)
    events = (await m.log.read(run_id, 0, 0)).events
    first_delta = next(e for e in events if e.type is EventType.DELTA)
    await asyncio.sleep(0.3)
    await m.stop(run_id, seen_offset=first_delta.offset)
    msg = await saved(run_id)
    assert msg.content == first_delta.data["text"]
    events = (await m.log.read(run_id, 0, 0)).events
    assert any(e.type is EventType.REPLACE for e in events), "the page must be told"
    # ... and a program reading text: the log folds to the clamped text.
    assert fold(events).text == msg.content


async def test_deltas_join_to_the_saved_content_line_ends_normalised(run_id, openai_server) -> None:
    """A program rebuilds ``Message.content`` from the deltas: they carry the
    text as stored, "\r\n" split across chunks included, not as received."""
    openai_server.enqueue(Script.text("one\r\ntwo\r\n\r\nthree\rfour", chunk_size=4))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.content == "one\ntwo\n\nthree\nfour"
    assert "".join(e.data["text"] for e in events if e.type is EventType.DELTA) == msg.content
    assert fold(events).text == msg.content


async def test_error_midstream_keeps_partial_as_failed(run_id, openai_server) -> None:
    openai_server.enqueue(
        Script.text("Partial answer", finish=None).then_stream_error("model crashed")
    )
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.status == "failed"
    assert msg.content == "Partial answer"
    assert msg.error_message
    error = next(e for e in events if e.type is EventType.ERROR)
    assert error.data["message"] == msg.error_message


async def test_retry_after_is_kept_as_the_time_retry_opens(run_id, openai_server) -> None:
    openai_server.enqueue(
        Script.http_error(
            429, "Slow down", code="rate_limit_exceeded", headers={"retry-after": "30"}
        )
    )
    m = manager()
    before = timezone.now()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    after = timezone.now()
    msg = await saved(run_id)
    assert (msg.status, msg.error_code, msg.error_retryable) == ("failed", "rate_limit", True)
    assert msg.retry_after_at is not None
    assert before + timedelta(seconds=30) <= msg.retry_after_at <= after + timedelta(seconds=30)
    error = next(e for e in events if e.type is EventType.ERROR)
    assert (error.data["retryable"], error.data["retry_after"]) == (True, 30.0)
    assert events[-1].data["error"]["retry_after"] == 30.0


async def test_an_absurd_retry_after_is_held_to_the_longest_shown_wait(
    run_id, openai_server
) -> None:
    openai_server.enqueue(Script.http_error(503, "Down", headers={"retry-after": "86400"}))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.retry_after_at is not None
    wait = (msg.retry_after_at - timezone.now()).total_seconds()
    assert MAX_SHOWN_RETRY_AFTER_S - 5 <= wait <= MAX_SHOWN_RETRY_AFTER_S


async def test_an_error_retry_cannot_fix_is_saved_not_retryable(run_id, openai_server) -> None:
    openai_server.enqueue(Script.http_error(401, "Bad key", code="invalid_api_key"))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.error_code, msg.error_retryable, msg.retry_after_at) == ("auth", False, None)
    assert events[-1].data["error"]["retryable"] is False


async def test_idle_upstream_fails_with_timeout(run_id, openai_server) -> None:
    # The run owns the idle timeout (the provider has none): one message.
    openai_server.enqueue(Script.text("Started", finish=None).then_stall(10))
    budgets = Budgets(idle_timeout_s=0.5, wall_clock_s=30, max_output_tokens=4000)
    m = manager(budgets=budgets)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.error_code, msg.content) == ("failed", "timeout", "Started")
    said = "The model stopped sending for 0.5 s. The partial answer is kept; Retry to try again."
    assert msg.error_message == said
    assert [e.data["message"] for e in events if e.type is EventType.ERROR] == [said]
    assert (await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)).hung_up


async def test_slow_but_steady_upstream_is_not_idle(run_id, openai_server) -> None:
    # Each chunk comes within the idle timeout, though the answer takes longer.
    openai_server.enqueue(Script.text("a b c d e f", chunk_size=2, delay=0.25))
    budgets = Budgets(idle_timeout_s=0.5, wall_clock_s=30, max_output_tokens=4000)
    m = manager(budgets=budgets)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.error_code, msg.content) == ("complete", "", "a b c d e f")


async def test_output_token_budget_truncates(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("long " * 400, chunk_size=5))
    budgets = Budgets(idle_timeout_s=2, wall_clock_s=30, max_output_tokens=50)
    m = manager(budgets=budgets)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.status == "truncated"
    assert msg.finish_reason == "length"
    assert len(msg.content) < len("long " * 400)


async def test_wall_clock_budget_truncates(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("slow " * 100, chunk_size=5, delay=0.05))
    budgets = Budgets(idle_timeout_s=2, wall_clock_s=0.5, max_output_tokens=4000)
    m = manager(budgets=budgets)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.finish_reason) == ("truncated", "time_limit")


async def test_no_subscriber_for_the_grace_period_interrupts(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("tick " * 500, chunk_size=5, delay=0.01))
    m = manager(grace=0.3)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await all_events(m, run_id)
    msg = await saved(run_id)
    assert msg.status == "interrupted"
    assert msg.content
    assert (await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)).hung_up


async def test_a_subscriber_keeps_the_run_alive(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("tick " * 60, chunk_size=5, delay=0.02))
    m = manager(grace=0.2)
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    async with m.subscriber(run_id):
        await m.wait(run_id)
    assert (await saved(run_id)).status == "complete"


class Exploding:
    name = "exploding"

    async def stream(
        self,
        *,
        messages: Sequence[ChatMessage],
        model: str,
        tools: Sequence[ToolSpec] = (),
        max_tokens: int | None = None,
        reasoning_effort: ReasoningEffort | None = None,
    ) -> AsyncIterator[ProviderEvent]:
        yield TextDelta("before the bug ")
        raise RuntimeError("a bug, not a provider error")


async def test_a_bug_in_a_provider_fails_the_run_cleanly(run_id) -> None:
    m = manager()
    m.start(spec(run_id), Exploding())
    events = await all_events(m, run_id)
    msg = await saved(run_id)
    assert (msg.status, msg.error_code) == ("failed", "internal")
    assert msg.content == "before the bug "
    assert events[-1].type is EventType.FINAL


async def test_slow_first_block_says_generating_once(run_id, openai_server) -> None:

    openai_server.enqueue(Script((Stall(1.3),)).then_text("Hello there.").then_finish())
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    states = [e.data["state"] for e in events if e.type is EventType.STATUS]
    assert states == ["streaming", "generating"]


async def test_quick_first_block_is_not_announced_as_generating(run_id, openai_server) -> None:
    # The first block is finished at once; the model then pauses past the notice time.
    openai_server.enqueue(
        Script.text("First block.\n\nSecond", finish=None)
        .then_stall(1.5)
        .then_text(" block.")
        .then_finish()
    )
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    states = [e.data["state"] for e in events if e.type is EventType.STATUS]
    assert states == ["streaming"]


async def test_a_run_writes_about_once_a_second_plus_its_start_and_end(
    run_id, openai_server
) -> None:
    """A 10-second answer: one checkpoint a second (CHECKPOINT_INTERVAL_S) and
    the start and end writes, whatever the number of frames (~200 here)."""
    openai_server.enqueue(Script.text("tick " * 100, chunk_size=5, delay=0.1))
    m = manager()
    writes: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(sql)
        return execute(sql, params, many, context)

    await _stores[-1].thread.run(lambda: connections["default"].execute_wrappers.append(record))
    started = time.monotonic()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    seconds = time.monotonic() - started
    assert seconds >= 9.5
    assert sum(e.type == EventType.DELTA for e in events) > 5 * seconds  # many frames
    # started + finished + a checkpoint a second (the first frame's included).
    assert 2 + seconds - 2 <= len(writes) <= 2 + seconds + 1, writes
    assert (await saved(run_id)).status == "complete"


async def test_provider_ttft_counts_to_the_first_output_not_to_bookkeeping(
    run_id, openai_server
) -> None:
    """The model's time to first token is measured to its first text (or
    reasoning, or tool call): an answer with none has no such time, whatever
    usage and finish chunks arrived."""
    openai_server.enqueue(Script((Stall(0.3),)).then_text("Late.").then_finish())
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    final = (await all_events(m, run_id))[-1]
    assert final.data["metrics"]["provider_ttft_ms"] >= 300

    empty_id = await sync_to_async(_make_message)()
    openai_server.enqueue(Script.text("", usage=(5, 0)))
    m.start(spec(empty_id), OpenAICompatProvider(openai_server.base_url, "k"))
    final = (await all_events(m, empty_id))[-1]
    assert final.data["status"] == "complete"
    assert final.data["metrics"]["provider_ttft_ms"] is None


async def test_the_whole_answer_is_read_out_once_at_the_end(run_id, openai_server) -> None:
    """Both read-aloud modes are in the log: paced announcements, then one read-out."""
    text = "# Title\n\nFirst paragraph.\n\n```python\na = 1\n```\n\nLast one."
    openai_server.enqueue(Script.text(text, chunk_size=3, delay=0.01))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    paced = [e.data["text"] for e in events if e.type is EventType.ANNOUNCE]
    whole = [e for e in events if e.type is EventType.ANNOUNCE_DONE]
    expected = "Title. First paragraph. Code block, Python, 1 line. Last one."
    assert " ".join(paced) == expected
    assert [e.data["text"] for e in whole] == [expected]
    # After every paced announcement, just before the end.
    assert events[-2] is whole[0]


async def test_a_stopped_answer_is_not_read_out_at_the_end(run_id, openai_server) -> None:
    openai_server.enqueue(Script.text("Block.\n\n" * 200, chunk_size=4, delay=0.01))
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    await asyncio.sleep(0.5)
    assert await m.stop(run_id)
    events = (await m.log.read(run_id, 0, 0)).events
    assert any(e.type is EventType.ANNOUNCE for e in events), "blocks were heard while streaming"
    assert not any(e.type is EventType.ANNOUNCE_DONE for e in events)


async def test_a_failed_answer_reads_out_what_was_kept(run_id, openai_server) -> None:
    openai_server.enqueue(
        Script.text("Kept part.\n\nHalf", chunk_size=3, finish=None).then_stream_error("boom")
    )
    m = manager()
    m.start(spec(run_id), OpenAICompatProvider(openai_server.base_url, "k"))
    events = await all_events(m, run_id)
    kinds = [e.type for e in events]
    assert kinds[-3:] == [EventType.ANNOUNCE_DONE, EventType.ERROR, EventType.FINAL]
    assert events[-3].data["text"] == "Kept part. Half."
