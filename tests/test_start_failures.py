"""chatapp/services.py, ``committed_then_run``: whatever fails once the
question and its pending answer are committed ends that answer failed in
place, logged, and the request is answered normally (Django's test client;
the failure is forced in-process, so no run starts; through daphne with a
real unreadable file: tests/test_start_failures_flow.py)."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatapp import selectors, services
from chatapp.context_budget import TooLong
from chatapp.models import Conversation, Message
from streaming.providers.errors import MSG_CONTEXT

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada", password="pw-for-tests-1")


@pytest.fixture
def web(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def conversation(user: User) -> Conversation:
    conv = Conversation.objects.create(user=user, model="demo", title="Hello")
    q = Message.objects.create(conversation=conv, role="user", content="Hi")
    a = Message.objects.create(
        conversation=conv, reply_to=q, role="assistant", content="Hello", html="<p>Hello</p>",
        status="complete", model="demo",
    )  # fmt: skip
    conv.active_leaf = a
    conv.save()
    return conv


def _nothing_live(user: User, conversation: Conversation) -> None:
    """No answer is left counted as being written: the next send is not refused for one."""
    assert selectors.live_run_count(user=user) == 0
    assert not selectors.conversation_has_live_answer(conversation=conversation)


def test_a_prompt_too_long_after_the_commit_fails_the_answer_without_retry(
    web: Client,
    user: User,
    conversation: Conversation,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The checks before the write estimate what ``prompt_for`` then builds;
    if they ever disagree, the question is kept and its answer says why."""

    def too_long(**_: Any) -> NoReturn:
        raise TooLong(20_000, 12_288)

    monkeypatch.setattr(selectors, "prompt_for", too_long)
    with caplog.at_level(logging.ERROR, logger="chatapp.services"):
        r = web.post(f"/c/{conversation.id}/messages", {"text": "A long one"}, headers=HTMX)

    assert r.status_code == 200, r.content[:300]
    answer = conversation.messages.get(role="assistant", status="failed")
    assert (answer.error_code, answer.error_message) == ("context_length", MSG_CONTEXT)
    assert not answer.error_retryable
    assert answer.completed_at is not None
    assert answer.reply_to is not None
    assert answer.reply_to.content == "A long one", "the question is kept"
    html = r.content.decode()
    assert MSG_CONTEXT in html
    assert "Start a new conversation, or send a shorter message." in html  # instead of Retry
    assert f"/m/{answer.id}/retry" not in html
    assert "sse-connect" not in html
    assert 'id="stop-button"' not in html
    (record,) = caplog.records
    assert f"answer {answer.id}" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is TooLong
    _nothing_live(user, conversation)

    # The next send is accepted (here it fails the same way: prompt_for still raises).
    again = web.post(f"/c/{conversation.id}/messages", {"text": "Again"}, headers=HTMX)
    assert again.status_code == 200
    assert conversation.messages.filter(role="assistant", status="failed").count() == 2
    _nothing_live(user, conversation)


def test_an_error_starting_the_run_fails_the_answer_with_retry(
    web: Client, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first message without script: the redirect lands on a page with the
    question and the failed answer, Retry offered (a bug may not recur)."""

    def broken(model: str) -> NoReturn:
        raise RuntimeError(f"no provider for {model}")

    monkeypatch.setattr(services, "provider_for", broken)
    r = web.post("/c/new", {"text": "Hello there", "model": "demo"}, follow=True)

    assert r.status_code == 200
    conversation = Conversation.objects.get(user=user)
    answer = conversation.messages.get(role="assistant")
    assert (answer.status, answer.error_code) == ("failed", "internal")
    assert answer.error_message == services.START_FAILED
    assert answer.error_retryable
    html = r.content.decode()
    assert "Hello there" in html
    assert services.START_FAILED in html
    assert f"/m/{answer.id}/retry" in html
    _nothing_live(user, conversation)


def test_a_failure_is_said_once_the_swap_settles(
    web: Client, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No stream will say it: the response does, the state then why."""

    def broken(**_: Any) -> NoReturn:
        raise OSError("storage unreachable")

    monkeypatch.setattr(selectors, "prompt_for", broken)
    answer = conversation.messages.get(role="assistant")
    r = web.post(f"/m/{answer.id}/regenerate", headers=HTMX)
    assert r.status_code == 200
    said = r["HX-Trigger-After-Settle"]
    assert said.startswith('{"spool:said": {"text": "Answer failed."}, "spool:alert": {"text": ')
    assert "Spool hit an error on the server" in said
