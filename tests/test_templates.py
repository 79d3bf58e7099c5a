"""Templates never leak their own syntax into the page.

Django's ``{# … #}`` comment ends with its line: a ``{#`` whose ``#}`` is on a
later line is not a comment but text, shown to every user (multi-line comments
need ``{% comment %}``). The scan catches that in any template; the renders
check the HTML the users actually get, through the views where there is one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import Template
from django.template.loader import render_to_string
from django.test import Client
from django.test.signals import template_rendered

from chatapp.attachments.prepare import prepare
from chatapp.attachments.store import attachments_save
from chatapp.models import Conversation, Message
from tests.support.attachments import image_bytes

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))
# Template syntax that must never reach the HTML (none of the contexts below
# holds it in its data, so any occurrence comes from a template).
SYNTAX = ("{#", "#}", "{%", "%}", "{{", "}}")


def unclosed_comments(text: str) -> list[int]:
    """Line numbers (1-based) where a ``{#`` comment is not closed on its own line,
    or where a ``#}`` closes nothing on its line."""
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        rest = line
        while "{#" in rest:
            start = rest.index("{#")
            if "#}" in rest[:start]:  # a "#}" before any "{#" on the line
                break
            end = rest.find("#}", start + 2)
            if end < 0:
                break
            rest = rest[end + 2 :]
        if "{#" in rest or "#}" in rest:
            bad.append(number)
    return bad


def test_scan_flags_a_comment_over_two_lines() -> None:
    assert unclosed_comments("{# one line #}\n<p>{# a #} b {# c #}</p>") == []
    assert unclosed_comments("<div>\n  {# starts here\n     ends here #}\n</div>") == [2, 3]
    assert unclosed_comments("a #} b") == [1]


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_comment_spans_lines(path: Path) -> None:
    bad = unclosed_comments(path.read_text())
    assert not bad, (
        f"{path.relative_to(TEMPLATES)}: {{# … #}} is single-line in Django, lines {bad} "
        "would show as text; use {% comment %}…{% endcomment %}"
    )


def leaks(html: str) -> list[str]:
    return [token for token in SYNTAX if token in html]


@pytest.fixture
def rendered() -> Iterator[set[str]]:
    """Names of every template rendered while the test runs (includes too)."""
    names: set[str] = set()

    def record(sender: Template, template: Template, **kwargs: Any) -> None:
        if template.origin is not None and template.origin.template_name:
            names.add(str(template.origin.template_name))

    template_rendered.connect(record)
    yield names
    template_rendered.disconnect(record)


@pytest.mark.django_db
def test_every_template_renders_without_leaking_syntax(
    rendered: set[str], tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path  # the question's attachments are stored there
    outputs: dict[str, str] = {}
    anonymous = Client()
    outputs["login page"] = anonymous.get("/accounts/login/").content.decode()
    outputs["sign-up page"] = anonymous.get("/accounts/signup/").content.decode()

    user = User.objects.create_user("tpl", password="pw-for-tests-1")
    web = Client()
    web.force_login(user)
    conversation = Conversation.objects.create(user=user, model="demo", title="Templates")
    question = Message.objects.create(conversation=conversation, role="user", content="Hi")
    uploads = [prepare("map.png", image_bytes(30, 20)), prepare("plan.txt", b"Plan: sow\n")]
    attachments_save(message=question, files=uploads, stored=[])
    finished = Message.objects.create(
        conversation=conversation, reply_to=question, role="assistant", content="Hello",
        html="<p>Hello</p>", status="stopped", model="demo", ttft_ms=120.0,
    )  # fmt: skip
    live = Message.objects.create(
        conversation=conversation, reply_to=question, role="assistant", status="streaming",
        model="demo",
    )  # fmt: skip
    outputs["home page"] = web.get("/").content.decode()
    outputs["conversation list page"] = web.get("/c/").content.decode()
    # The question: "Hello" is on a version the page does not show (the live
    # answer is the newer of the two), and search finds only what it shows.
    outputs["search results"] = web.get("/search", {"q": "Hi"}).content.decode()
    assert "<mark>Hi</mark>" in outputs["search results"]
    outputs["delete confirmation"] = web.get(f"/c/{conversation.id}/delete").content.decode()
    outputs["settings page"] = web.get("/settings/").content.decode()
    # Shared: the owner's controls with a link, then the page anyone with it sees.
    web.post(f"/c/{conversation.id}/share")
    owner_page = web.get(f"/c/{conversation.id}/?share=created").content.decode()
    assert "Stop sharing" in owner_page, "the share controls were not rendered"
    outputs["conversation page, shared"] = owner_page
    token = conversation.share.token
    outputs["shared page"] = anonymous.get(f"/s/{token}").content.decode()
    # The active path: the question and its newest answer (live, nothing written yet).
    assert '<div class="msg-text">Hi</div>' in outputs["shared page"]
    outputs["title event"] = render_to_string(
        "chat/_title_oob.html", {"conversation": conversation}
    )
    outputs["settings page, refused"] = web.post("/settings/", {"read_aloud": "x"}).content.decode()
    # A live answer (no run owns it, but it is too new to count as a crash
    # leftover): the page renders it subscribed to its stream.
    page = web.get(f"/c/{conversation.id}/").content.decode()
    assert f'sse-connect="/m/{live.id}/stream"' in page, "the live branch was not rendered"
    outputs["conversation page, answer streaming"] = page
    # Both read-aloud modes have a listener; static/js/spool.js keeps one.
    assert 'sse-swap="announce" hx-target="#sr-answer"' in page
    assert 'sse-swap="announce-done" hx-target="#sr-answer"' in page
    # A reasoning model's conversation: the effort picker, a stored reasoning collapsed.
    thinking = Conversation.objects.create(user=user, model="demo-thinking", title="Thinking")
    asked = Message.objects.create(conversation=thinking, role="user", content="Why?")
    Message.objects.create(
        conversation=thinking, reply_to=asked, role="assistant", content="Because.",
        html="<p>Because.</p>", reasoning="Hm.", reasoning_html="<p>Hm.</p>",
        reasoning_ms=2400.0, model="demo-thinking",
    )  # fmt: skip
    page = web.get(f"/c/{thinking.id}/").content.decode()
    assert '<span class="reasoning-label">Thought for 2 s</span>' in page
    assert 'id="reasoning-effort"' in page
    outputs["conversation page, reasoning model"] = page
    htmx = {"HX-Request": "true"}
    error = web.post(f"/c/{conversation.id}/messages", {"text": " "}, headers=htmx)
    assert error.status_code == 422
    outputs["composer error"] = error.content.decode()
    # The stream's fragments (the run itself is not started here).
    outputs["exchange"] = render_to_string(
        "chat/_exchange.html",
        {"messages": [question, live], "conversation": conversation, "live_message": live},
    )
    outputs["done"] = render_to_string(
        "chat/_done.html", {"message": finished, "conversation": conversation}
    )
    assert f'action="/m/{finished.id}/continue"' in outputs["done"], "Continue was not offered"
    outputs["continued"] = render_to_string(
        "chat/_continued.html",
        {"message": live, "conversation": conversation, "live_message": live},
    )
    # Versions: the question as a form (a page of its own without script), and
    # a switch to the other answer (the live one stopped first: no switching
    # while an answer is written), the transcript with its "1/2" switcher.
    outputs["edit page"] = web.get(f"/m/{question.id}/edit").content.decode()
    assert 'id="m-' in outputs["edit page"]
    assert "Edit your question" in outputs["edit page"]
    Message.objects.filter(id=live.id).update(status="stopped", content="Bye")
    switched = web.post(f"/m/{finished.id}/switch", headers=htmx)
    assert switched.status_code == 200
    outputs["switched branch"] = switched.content.decode()
    assert 'aria-label="Version 1 of 2"' in outputs["switched branch"]

    leaked = {name: leaks(html) for name, html in outputs.items() if leaks(html)}
    assert not leaked, f"template syntax in the HTML: {leaked}"
    files = {str(path.relative_to(TEMPLATES)) for path in TEMPLATE_FILES}
    assert files <= rendered, f"templates not rendered by this test: {sorted(files - rendered)}"


def test_a_live_message_renders_without_its_comments() -> None:
    """The issue's case: the streaming answer's partial, on its own."""
    message = Message(role="assistant", status="streaming", model="demo")
    html = render_to_string("chat/_message.html", {"message": message})
    assert "sse-connect" in html
    assert leaks(html) == []
    assert "never replaced" not in html  # the comment's own words
