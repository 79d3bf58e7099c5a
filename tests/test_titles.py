"""Titles: the request beside the first answer (streaming/runs/titles.py), the
demo model's title, and which answers ask for one (chatapp/titles.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string

from chatapp import conversations, services, versions
from chatapp.models import Conversation, Message
from chatapp.titles import first_words, title_job, title_save
from streaming.providers.base import TextDelta
from streaming.providers.demo import DemoProvider, demo_title
from streaming.providers.openai_compat import OpenAICompatProvider
from streaming.runs.titles import (
    REASONING_TITLE_EFFORT,
    REASONING_TITLE_MAX_TOKENS,
    TITLE_INSTRUCTION,
    TITLE_MAX_TOKENS,
    TitleJob,
    TitleRequest,
    clean_title,
    propose_title,
    settle,
)
from streaming.status import RunStatus
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ("Lisbon trip plans", "Lisbon trip plans"),
        ('"Lisbon trip plans."', "Lisbon trip plans"),
        ("Title: **Retry helpers**\nThey back off.", "Retry helpers"),
        ("\n\n  « Recette   du pain »  \n", "Recette du pain"),
        ("   \n ", None),
        ('""', None),
        ("word " * 40, ("word " * 40)[:79].rstrip() + "…"),
    ],
)
def test_a_reply_is_cleaned_into_one_short_line(reply: str, title: str | None) -> None:
    assert clean_title(reply) == title


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("How do I write a retry helper in Python?", "Retry helper in Python"),
        ("Show me a table comparing SSE and WebSockets", "Table comparing SSE and WebSockets"),
        ("please explain the Lisbon tram network to me", "Lisbon tram network to me"),
        ("hi", "Hi"),
        ("???", "Demo conversation"),
    ],
)
def test_the_demo_model_names_the_question(question: str, title: str) -> None:
    assert demo_title(question) == title


async def test_the_demo_model_answers_the_title_prompt_with_its_title() -> None:
    job = TitleJob("How do I write a retry helper in Python?")
    assert await propose_title(job, DemoProvider(token_delay=0.001), model="demo") == (
        "Retry helper in Python"
    )


@pytest.fixture
async def provider(openai_server: FakeOpenAIServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider(openai_server.base_url, "sk-test")
    yield p
    await p.aclose()


async def test_the_title_request_is_the_title_prompt_and_the_question(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider
) -> None:
    openai_server.enqueue(Script.text('"Trip to Lisbon."', chunk_size=3))
    title = await propose_title(TitleJob("Plan me 3 days in Lisbon"), provider, model="m")
    assert title == "Trip to Lisbon"
    (request,) = openai_server.chat_requests
    assert request.body["messages"] == [
        {"role": "system", "content": TITLE_INSTRUCTION},
        {"role": "user", "content": "Plan me 3 days in Lisbon"},
    ]
    assert request.body["max_tokens"] == TITLE_MAX_TOKENS
    assert "reasoning_effort" not in request.body


@pytest.mark.parametrize(
    "reply",
    [
        Script.reasoning_then_text("A plan for a trip: name the city.", "Trip to Lisbon"),
        Script.think_tags("A plan for a trip: name the city.", "Trip to Lisbon", chunk_size=3),
    ],
    ids=["reasoning_field", "think_tags"],
)
async def test_a_reasoning_model_is_asked_to_think_little_with_room_to_answer(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider, reply: Script
) -> None:
    """A reasoning model spends its output tokens thinking before it writes:
    with the title's usual allowance it would end with no title at all."""
    openai_server.enqueue(reply)
    job = TitleJob("Plan me 3 days in Lisbon", reasoning=True)
    assert await propose_title(job, provider, model="m") == "Trip to Lisbon"
    (request,) = openai_server.chat_requests
    assert request.body["reasoning_effort"] == REASONING_TITLE_EFFORT == "low"
    assert request.body["max_tokens"] == REASONING_TITLE_MAX_TOKENS >= 512


async def test_a_failed_title_request_gives_none(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider
) -> None:
    openai_server.enqueue(Script.http_error(500, "The server had an error", type="server_error"))
    assert await propose_title(TitleJob("anything"), provider, model="m") is None


async def test_a_rambling_reply_is_cut_off_and_hung_up_on(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider
) -> None:
    # A model that answers the question instead: a few hundred characters are
    # enough for a title, the rest is not read.
    openai_server.enqueue(Script.text("Lisbon\n" + "and so on " * 200, chunk_size=10, delay=0.01))
    assert await propose_title(TitleJob("q"), provider, model="m") == "Lisbon"
    record = await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)
    assert record.hung_up


async def test_a_slow_title_is_given_up_and_its_request_closed(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider
) -> None:
    openai_server.enqueue(Script.text("Lis", chunk_size=3).then_stall(30))
    request = TitleRequest(TitleJob("q"), provider, model="m", name="title-test")
    await asyncio.to_thread(openai_server.wait_for_requests, 1, 2.0)
    assert await request.result(0.2) is None
    record = await asyncio.to_thread(openai_server.wait_for_hangup, 2.0)
    assert record.hung_up


async def test_settle_waits_after_a_finished_answer_only(
    openai_server: FakeOpenAIServer, provider: OpenAICompatProvider
) -> None:
    # Ready 0.3 s after the answer ended: a complete answer waits for it...
    openai_server.enqueue(Script.text("Late title", delay=0.3))
    complete = TitleRequest(TitleJob("q"), provider, model="m", name="t1")
    assert await settle(complete, RunStatus.COMPLETE) == "Late title"
    # ...a stopped one takes only a title already there.
    openai_server.enqueue(Script.text("Late title", delay=0.3))
    stopped = TitleRequest(TitleJob("q"), provider, model="m", name="t2")
    assert await settle(stopped, RunStatus.STOPPED) is None
    assert await settle(None, RunStatus.COMPLETE) is None


async def test_the_demo_title_prompt_is_told_apart_from_a_question() -> None:
    """The same question as a plain prompt gets an answer, not a title."""
    events = [
        e
        async for e in DemoProvider(token_delay=0.0).stream(
            messages=TitleJob("hi").messages()[1:], model="demo"
        )
        if isinstance(e, TextDelta)
    ]
    assert "".join(e.text for e in events).startswith("## Hello from the demo model")


def _finish(answer: Message) -> None:
    Message.objects.filter(id=answer.id).update(status=Message.Status.COMPLETE, content="Done.")
    answer.refresh_from_db()


@pytest.mark.django_db
class TestWhichAnswersAskForATitle:
    @pytest.fixture
    def user(self) -> User:
        return User.objects.create_user("tia")

    def test_the_first_answer_asks_later_ones_do_not(self, user: User) -> None:
        sent = services.conversation_start(user=user, text="Plan  a trip\nto Lisbon", model="demo")
        assert sent.conversation.title == "Plan a trip to Lisbon"
        job = title_job(conversation=sent.conversation, answer=sent.assistant_message)
        assert job == TitleJob("Plan  a trip\nto Lisbon")
        _finish(sent.assistant_message)
        second = services.message_send(conversation=sent.conversation, text="And Porto?")
        assert title_job(conversation=sent.conversation, answer=second.assistant_message) is None

    def test_a_regenerated_first_answer_asks_again(self, user: User) -> None:
        sent = services.conversation_start(user=user, text="Plan a trip", model="demo")
        _finish(sent.assistant_message)
        again = versions.message_regenerate(message=sent.assistant_message).assistant_message
        assert title_job(conversation=sent.conversation, answer=again) == TitleJob("Plan a trip")

    def test_a_named_or_titled_conversation_does_not_ask(self, user: User) -> None:
        sent = services.conversation_start(user=user, text="Plan a trip", model="demo")
        conversations.conversation_rename(conversation=sent.conversation, title="Holidays")
        assert title_job(conversation=sent.conversation, answer=sent.assistant_message) is None
        sent = services.conversation_start(user=user, text="Plan a trip", model="demo")
        assert title_save(using="default", answer_id=sent.assistant_message.id, title="Trip")
        sent.conversation.refresh_from_db()
        assert sent.conversation.title_source == Conversation.TitleSource.MODEL
        assert title_job(conversation=sent.conversation, answer=sent.assistant_message) is None

    def test_a_title_never_replaces_the_owners_name(self, user: User) -> None:
        sent = services.conversation_start(user=user, text="Plan a trip", model="demo")
        conversations.conversation_rename(conversation=sent.conversation, title="Holidays")
        assert not title_save(using="default", answer_id=sent.assistant_message.id, title="Trip")
        sent.conversation.refresh_from_db()
        assert sent.conversation.title == "Holidays"

    def test_titles_off_asks_for_none(self, user: User, settings: object) -> None:
        settings.SPOOL_TITLES = False  # type: ignore[attr-defined]
        sent = services.conversation_start(user=user, text="Plan a trip", model="demo")
        assert title_job(conversation=sent.conversation, answer=sent.assistant_message) is None

    def test_the_fallback_is_the_first_words(self) -> None:
        assert first_words("  a\n b  ") == "a b"
        assert first_words("x" * 100) == "x" * 79 + "…"


@pytest.mark.django_db
def test_the_pages_title_frame_escapes_what_the_model_wrote() -> None:
    user = User.objects.create_user("esc")
    title = "<img src=x onerror=alert(1)>"
    c = Conversation.objects.create(user=user, model="demo", title=title)
    html = render_to_string("chat/_title_oob.html", {"conversation": c})
    assert "<img" not in html
    assert "<title>&lt;img src=x onerror=alert(1)&gt; · Spool</title>" in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 4  # title, heading, both lists
