"""RunManager.opened: a send answers only once the run's log holds its first event.

The page subscribes to the answer's stream as soon as the send's response
arrives; ``opened`` is what makes the run findable by then. A real provider
against the fake model server, the real database store, and the real logs; a
log whose appends wait at a gate stands for a slow one (a Redis round trip
under load), so a test can look while the first event is not in yet.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chatapp.models import Conversation, Message
from chatapp.run_store import DjangoRunStore
from streaming.eventlog.base import EventLog
from streaming.eventlog.memory import MemoryEventLog
from streaming.events import EventType
from streaming.providers.base import ChatMessage
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs import Budgets, RunManager, RunSpec
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.eventlogs import MakeLog

pytestmark = pytest.mark.django_db(transaction=True)

BUDGETS = Budgets(idle_timeout_s=2.0, wall_clock_s=30.0, max_output_tokens=4000)
# Far longer than ``opened`` ever takes: a waiter still pending after it waits for nothing.
STUCK_S = 5.0


class GatedLog(MemoryEventLog):
    """The in-memory log, with every append held until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def append(self, run_id: str, type: EventType, data: dict[str, Any]) -> int:
        await self.gate.wait()
        return await super().append(run_id, type, data)


def _make_answer() -> str:
    user = User.objects.create_user(f"u{time.monotonic_ns()}")
    conversation = Conversation.objects.create(user=user, model="fake")
    question = Message.objects.create(conversation=conversation, role="user", content="hi")
    answer = Message.objects.create(
        conversation=conversation, reply_to=question, role="assistant", status="pending",
        model="fake",
    )  # fmt: skip
    return str(answer.id)


@pytest.fixture
async def run_id() -> str:
    return await sync_to_async(_make_answer)()


def manager(log: EventLog) -> RunManager:
    return RunManager(log=log, store=DjangoRunStore(), budgets=BUDGETS, detach_grace=None)


def spec(run_id: str) -> RunSpec:
    return RunSpec(
        run_id=run_id, user_id=1, model="fake", messages=[ChatMessage("user", "hi")],
        correlation_id="test",
    )  # fmt: skip


def provider(server: FakeOpenAIServer) -> OpenAICompatProvider:
    return OpenAICompatProvider(server.base_url, "k")


async def test_opened_waits_for_the_first_event(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(Script.text("Hello there.", chunk_size=3))
    log = GatedLog()
    m = manager(log)
    m.start(spec(run_id), provider(openai_server))
    waiter = asyncio.ensure_future(m.opened(run_id))
    await asyncio.sleep(0.2)  # the run's task has long taken its first step
    assert not waiter.done(), "opened before the log held anything"
    assert not await log.exists(run_id)
    log.gate.set()
    await asyncio.wait_for(waiter, STUCK_S)
    # Right after: a subscriber finds the run and its first event.
    assert await log.exists(run_id)
    first = (await log.read(run_id, 0, 0)).events[0]
    assert first.type is EventType.STATUS
    assert first.data == {"state": "streaming"}
    await m.wait(run_id)


async def test_after_opened_a_subscriber_finds_the_run(
    run_id: str, openai_server: FakeOpenAIServer, make_log: MakeLog
) -> None:
    """On each real log, the first thing after ``opened``: no wait, no retry."""
    openai_server.enqueue(Script.text("Hello there.", chunk_size=3, delay=0.05))
    log = make_log()
    m = manager(log)
    m.start(spec(run_id), provider(openai_server))
    await asyncio.wait_for(m.opened(run_id), STUCK_S)
    assert await log.exists(run_id)
    events = (await log.read(run_id, 0, 0)).events
    assert events[0].type is EventType.STATUS
    assert not any(e.is_final for e in events), "opened waited for the whole run"
    await m.wait(run_id)


async def test_opened_returns_when_the_run_is_cancelled_before_its_first_step(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    log = GatedLog()
    log.gate.set()
    m = manager(log)
    m.start(spec(run_id), provider(openai_server))
    waiter = asyncio.ensure_future(m.opened(run_id))
    # stop() cancels the run's task at once, before it has run a single step:
    # it never writes an event, and only its end can release the waiter.
    assert await m.stop(run_id)
    await asyncio.wait_for(waiter, STUCK_S)
    assert not await log.exists(run_id)
    assert openai_server.chat_requests == []


async def test_opened_returns_at_once_for_unknown_runs() -> None:
    m = manager(MemoryEventLog())
    waiter = asyncio.ensure_future(m.opened("no-such-run"))
    await asyncio.sleep(0)  # one step of the waiter's task, and no more
    assert waiter.done()


async def test_opened_returns_at_once_for_open_and_ended_runs(
    run_id: str, openai_server: FakeOpenAIServer
) -> None:
    openai_server.enqueue(Script.text("Hello there.", chunk_size=3, delay=0.05))
    m = manager(MemoryEventLog())
    m.start(spec(run_id), provider(openai_server))
    await asyncio.wait_for(m.opened(run_id), STUCK_S)
    again = asyncio.ensure_future(m.opened(run_id))
    await asyncio.sleep(0)
    assert again.done(), "an opened run waited again"
    await m.wait(run_id)
    ended = asyncio.ensure_future(m.opened(run_id))
    await asyncio.sleep(0)
    assert ended.done(), "an ended run waited"
