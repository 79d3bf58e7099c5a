"""A run with a title job (streaming/runs/titles.py): a real provider against
the fake model server, the real database store, the in-memory event log.

The title request runs beside the answer; ``title`` comes before ``final``
and the store saves it with the answer; a slow or stopped one is given up
(its request hung up), and the answer never suffers for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chatapp.models import Conversation, Message
from chatapp.run_store import DjangoRunStore
from streaming.eventlog.memory import MemoryEventLog
from streaming.events import Event, EventType
from streaming.providers.base import ChatMessage
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs import Budgets, RunManager, RunSpec, titles
from streaming.runs.titles import TITLE_INSTRUCTION, TitleJob
from tests.fakes.openai_server import FakeOpenAIServer, RequestRecord
from tests.fakes.scripts import Script

pytestmark = pytest.mark.django_db(transaction=True)

BUDGETS = Budgets(idle_timeout_s=5.0, wall_clock_s=30.0, max_output_tokens=4000)
QUESTION = "Plan three days in Lisbon"


def _make_answer() -> tuple[str, str]:
    user = User.objects.create_user(f"u{time.monotonic_ns()}")
    conv = Conversation.objects.create(user=user, model="fake", title=QUESTION)
    q = Message.objects.create(conversation=conv, role="user", content=QUESTION)
    answer = Message.objects.create(
        conversation=conv, reply_to=q, role="assistant", status="pending", model="fake"
    )
    return str(answer.id), str(conv.id)


@pytest.fixture
async def ids() -> tuple[str, str]:
    return await sync_to_async(_make_answer)()


@pytest.fixture
async def manager() -> AsyncIterator[RunManager]:
    store = DjangoRunStore()
    yield RunManager(log=MemoryEventLog(), store=store, budgets=BUDGETS, detach_grace=None)
    await store.aclose()


def _spec(run_id: str) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        user_id=1,
        model="fake",
        messages=[ChatMessage("user", QUESTION)],
        correlation_id="test",
        title=TitleJob(QUESTION),
    )


async def _run(m: RunManager, run_id: str, server: FakeOpenAIServer) -> list[Event]:
    m.start(_spec(run_id), OpenAICompatProvider(server.base_url, "k"))
    await m.wait(run_id)
    return (await m.log.read(run_id, 0, 0)).events


def _hung_up_title_request(server: FakeOpenAIServer) -> RequestRecord:
    """The title request once the server has seen its client hang up (within 2 s)."""
    deadline = time.monotonic() + 2.0
    while True:
        found = [
            r
            for r in server.chat_requests
            if r.hung_up and r.body["messages"][0]["content"] == TITLE_INSTRUCTION
        ]
        if found or time.monotonic() > deadline:
            assert found, f"the title request was not hung up: {server.chat_requests}"
            return found[0]
        time.sleep(0.02)


async def _conversation(conversation_id: str) -> Conversation:
    return await Conversation.objects.aget(id=conversation_id)


async def test_the_title_comes_before_final_and_is_saved_with_the_answer(
    ids: tuple[str, str], manager: RunManager, openai_server: FakeOpenAIServer
) -> None:
    openai_server.when_system(TITLE_INSTRUCTION, Script.text("Lisbon in three days"))
    openai_server.set_default(Script.text("Day one: Alfama.", chunk_size=4, delay=0.02))
    events = await _run(manager, ids[0], openai_server)
    kinds = [e.type for e in events]
    assert kinds[-2:] == [EventType.TITLE, EventType.FINAL]
    assert events[-2].data == {"title": "Lisbon in three days"}
    assert events[-1].data["status"] == "complete"
    conversation = await _conversation(ids[1])
    assert (conversation.title, conversation.title_source) == ("Lisbon in three days", "model")
    answer = await Message.objects.aget(id=ids[0])
    assert answer.content == "Day one: Alfama."
    # Two requests: the answer's and the title's, each with its own prompt.
    systems = sorted(r.body["messages"][0]["role"] for r in openai_server.chat_requests)
    assert systems == ["system", "user"]


async def test_a_title_slower_than_the_wait_is_given_up(
    ids: tuple[str, str],
    manager: RunManager,
    openai_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(titles, "TITLE_WAIT_S", 0.3)
    openai_server.when_system(TITLE_INSTRUCTION, Script.text("Lis").then_stall(30))
    openai_server.set_default(Script.text("Day one.", chunk_size=4))
    events = await _run(manager, ids[0], openai_server)
    assert EventType.TITLE not in [e.type for e in events]
    assert events[-1].data["status"] == "complete"
    record = await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)
    assert record.body["messages"][0]["content"] == TITLE_INSTRUCTION
    conversation = await _conversation(ids[1])
    assert (conversation.title, conversation.title_source) == (QUESTION, "first_words")


async def test_a_stopped_answer_does_not_wait_for_its_title(
    ids: tuple[str, str], manager: RunManager, openai_server: FakeOpenAIServer
) -> None:
    openai_server.when_system(TITLE_INSTRUCTION, Script.text("La").then_stall(30))
    openai_server.set_default(Script.text("tick " * 500, chunk_size=5, delay=0.01))
    manager.start(_spec(ids[0]), OpenAICompatProvider(openai_server.base_url, "k"))
    # Both requests under way (the answer's and the title's), then Stop.
    await asyncio.to_thread(openai_server.wait_for_requests, 2, 5.0)
    assert await manager.stop(ids[0])
    # Saved without the title, whose request (still unfinished) was hung up.
    title_request = await asyncio.to_thread(_hung_up_title_request, openai_server)
    assert title_request.hung_up
    assert title_request.finished_at is None
    events = (await manager.log.read(ids[0], 0, 0)).events
    assert EventType.TITLE not in [e.type for e in events]
    assert events[-1].data["status"] == "stopped"
    conversation = await _conversation(ids[1])
    assert conversation.title_source == "first_words"
