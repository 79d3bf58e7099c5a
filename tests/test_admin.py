"""Admins read transcripts: roles, statuses and metrics; search and filters work."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatapp.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    admin = User.objects.create_superuser("root", "root@example.com", "pw-admin-1")
    c = Client()
    c.force_login(admin)
    return c


@pytest.fixture
def transcript() -> Conversation:
    owner = User.objects.create_user("grace", password="pw-1-grace")
    conv = Conversation.objects.create(user=owner, model="demo", title="About compilers")
    q = Message.objects.create(conversation=conv, role="user", content="What is a compiler?")
    Message.objects.create(
        conversation=conv, reply_to=q, role="assistant", status="failed", model="demo",
        content="A compiler translates", error_code="upstream_down",
        error_message="The model server is down.", ttft_ms=123.4, tokens_per_s=42.0,
        output_tokens=3, correlation_id="abc123",
    )  # fmt: skip
    other = Conversation.objects.create(user=owner, model="demo", title="Gardening")
    Message.objects.create(conversation=other, role="user", content="Tomatoes?")
    return conv


def test_conversation_page_shows_the_transcript(admin_client: Client, transcript) -> None:
    html = admin_client.get(f"/admin/chatapp/conversation/{transcript.id}/change/").content
    text = html.decode()
    assert "What is a compiler?" in text
    assert "A compiler translates" in text
    assert "Failed" in text
    assert "123.4" in text


def test_search_by_message_text_and_user(admin_client: Client, transcript) -> None:
    r = admin_client.get("/admin/chatapp/conversation/", {"q": "compiler"})
    assert "About compilers" in r.content.decode()
    assert "Gardening" not in r.content.decode()
    r = admin_client.get("/admin/chatapp/conversation/", {"q": "grace"})
    assert "Gardening" in r.content.decode()


def test_messages_filter_by_status(admin_client: Client, transcript) -> None:
    r = admin_client.get("/admin/chatapp/message/", {"status__exact": "failed"})
    body = r.content.decode()
    assert "A compiler translates" in body
    assert "Tomatoes?" not in body


def test_message_detail_shows_metrics_and_error(admin_client: Client, transcript) -> None:
    m = Message.objects.get(role="assistant")
    body = admin_client.get(f"/admin/chatapp/message/{m.id}/change/").content.decode()
    for expected in ("upstream_down", "The model server is down.", "42.0", "abc123"):
        assert expected in body


def test_an_estimated_count_and_its_rate_read_as_estimates(
    admin_client: Client, transcript
) -> None:
    """The list of messages and the conversation's transcript show Spool's
    estimate (no usage from the server) as one, a server's count as a count."""
    estimated = Message.objects.get(role="assistant")  # 3 tokens at 42 tokens/s
    Message.objects.filter(id=estimated.id).update(output_tokens_estimated=True)
    counted = Message.objects.create(
        conversation=transcript, role="assistant", status="complete", model="demo",
        content="Counted", output_tokens=17, tokens_per_s=20.0,
    )  # fmt: skip
    listed = admin_client.get("/admin/chatapp/message/").content.decode()
    transcript_page = admin_client.get(
        f"/admin/chatapp/conversation/{transcript.id}/change/"
    ).content.decode()
    assert "~3 tokens (estimated)" in listed
    for page in (listed, transcript_page):
        assert "~42 tokens/s (estimated)" in page
        assert "20 tokens/s" in page
        assert "~20" not in page
    assert "17 tokens" in listed
    assert "~17" not in listed
    assert counted.output_tokens_text == "17 tokens"


def test_non_staff_cannot_open_admin(transcript) -> None:
    c = Client()
    c.force_login(User.objects.get(username="grace"))
    r = c.get("/admin/chatapp/conversation/")
    assert r.status_code == 302


def test_message_detail_shows_the_reasoning_apart_and_collapsed(admin_client: Client) -> None:
    owner = User.objects.create_user("lovelace", password="pw-1-ada")
    conv = Conversation.objects.create(user=owner, model="demo-thinking", title="Thinking")
    answer = Message.objects.create(
        conversation=conv, role="assistant", model="demo-thinking", content="Even.",
        reasoning="Seven plus one is eight.", reasoning_ms=2100.0, reasoning_tokens=9,
        answer_ttft_ms=2300.5,
    )  # fmt: skip
    text = admin_client.get(f"/admin/chatapp/message/{answer.id}/change/").content.decode()
    # A collapsed fieldset of its own (Django draws it as <details>), apart from "Content".
    collapsed = re.search(
        r'<fieldset class="module aligned collapse"[^>]*>\s*<details><summary>\s*'
        r"<h2[^>]*>Reasoning</h2>(.*?)</fieldset>",
        text,
        re.DOTALL,
    )
    assert collapsed is not None
    assert "Seven plus one is eight." in collapsed.group(1)
    assert "2100.0" in collapsed.group(1)
    assert "Seven plus one is eight." not in text[: collapsed.start()]
    assert "2300.5" in text  # the time to the first answer token, with the metrics


def test_message_detail_shows_its_tool_calls_escaped(admin_client: Client, transcript) -> None:
    m = Message.objects.get(role="assistant")
    m.tool_calls = [
        {"id": "call_1", "name": "calculator", "arguments": {"expression": "2^10"},
         "result": "1024", "error": "", "duration_ms": 0.4, "round": 1},
        {"id": "call_2", "name": "<b>weather</b>", "arguments": '{"city": "Par',
         "result": "Error: not JSON", "error": "not JSON", "duration_ms": 0.1, "round": 2},
    ]  # fmt: skip
    m.save()
    body = admin_client.get(f"/admin/chatapp/message/{m.id}/change/").content.decode()
    assert "Tool calls" in body
    assert "<td>calculator</td><td><code>{&quot;expression&quot;: &quot;2^10&quot;}</code>" in body
    assert "<td>1024</td>" in body
    assert "&lt;b&gt;weather&lt;/b&gt;" in body
    assert "<b>weather</b>" not in body
    assert "{&quot;city&quot;: &quot;Par</code>" in body
    assert "0.4 ms" in body
