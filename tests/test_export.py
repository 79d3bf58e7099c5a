"""chatapp/export.py and its view: a conversation downloaded as Markdown or JSON,
streamed a page at a time, to its owner only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from django.utils import timezone

from chatapp import export
from chatapp.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


TOOL_CALL = {
    "id": "call_1", "name": "clock", "arguments": {"timezone": "Europe/Paris"},
    "result": "Friday 14 March 2026, 09:00:00 CET", "error": "", "duration_ms": 0.3, "round": 1,
}  # fmt: skip


def _setup() -> tuple[User, Conversation]:
    user = User.objects.create_user("ada", password="pw-for-tests-1")
    c = Conversation.objects.create(user=user, model="demo", title="Garden: tomatoes & more")
    q = Message.objects.create(conversation=c, role="user", content="When do I plant?")
    a = Message.objects.create(
        conversation=c, role="assistant", reply_to=q, model="demo", status="complete",
        content="After the **frost**.", ttft_ms=120.0, output_tokens=5, tokens_per_s=40.0,
        tool_calls=[TOOL_CALL],
    )  # fmt: skip
    q2 = Message.objects.create(conversation=c, role="user", content="And basil?", parent=a)
    Message.objects.create(
        conversation=c, role="assistant", reply_to=q2, model="demo", status="failed",
        content="Basil likes", error_code="timeout", error_message="The model stopped.",
    )  # fmt: skip
    return user, c


async def _download(client: AsyncClient, url: str) -> tuple[int, dict[str, str], bytes, bool]:
    response = await client.get(url)
    if not response.streaming:
        return response.status_code, dict(response.headers), response.content, False
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join([bytes(chunk) async for chunk in response])
    return response.status_code, dict(response.headers), body, True


async def _signed_in(username: str) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(await User.objects.aget(username=username))
    return client


async def test_markdown_export() -> None:
    _, c = await sync_to_async(_setup)()
    markdown = "md"  # the extension, spelled apart from a file name
    status, headers, body, streamed = await _download(
        await _signed_in("ada"), f"/c/{c.id}/export.{markdown}"
    )
    assert (status, streamed) == (200, True)
    assert headers["Content-Type"] == "text/markdown; charset=utf-8"
    expected = f'attachment; filename="garden-tomatoes-more.{markdown}"'
    assert headers["Content-Disposition"] == expected
    assert body.decode() == (
        "# Garden: tomatoes & more\n"
        "\n## You\n\nWhen do I plant?\n"
        "\n## Assistant (demo)\n\n"
        '- Tool `clock` `{"timezone": "Europe/Paris"}` → Friday 14 March 2026, 09:00:00 CET\n\n'
        "After the **frost**.\n"
        "\n## You\n\nAnd basil?\n"
        "\n## Assistant (demo, failed)\n\nBasil likes\n\n> The model stopped.\n"
    )


async def test_json_export() -> None:
    _, c = await sync_to_async(_setup)()
    status, headers, body, streamed = await _download(
        await _signed_in("ada"), f"/c/{c.id}/export.json"
    )
    assert (status, streamed, headers["Content-Type"]) == (200, True, "application/json")
    doc = json.loads(body)
    assert (doc["format"], doc["version"], doc["title"]) == (
        "spool-conversation",
        1,
        "Garden: tomatoes & more",
    )
    roles = [(m["role"], m["content"]) for m in doc["messages"]]
    assert roles == [
        ("user", "When do I plant?"),
        ("assistant", "After the **frost**."),
        ("user", "And basil?"),
        ("assistant", "Basil likes"),
    ]
    answer = doc["messages"][1]
    assert answer["status"] == "complete"
    assert answer["reply_to"] == doc["messages"][0]["id"]
    assert answer["metrics"]["ttft_ms"] == 120.0
    assert answer["metrics"]["tokens_per_s"] == 40.0
    assert answer["tool_calls"] == [TOOL_CALL]
    assert doc["messages"][3]["tool_calls"] == []
    assert doc["messages"][3]["error"] == {"code": "timeout", "message": "The model stopped."}


async def test_a_long_conversation_comes_whole_in_order_across_pages() -> None:
    def make() -> Conversation:
        user = User.objects.create_user("lin")
        c = Conversation.objects.create(user=user, model="demo", title="Long")
        # One branch: each question follows the answer before it.
        last: Message | None = None
        for i in range(export.PAGE + 25):
            q = Message.objects.create(
                conversation=c, role="user", content=f"m{2 * i:04}", parent=last
            )
            last = Message.objects.create(
                conversation=c, role="assistant", reply_to=q, content=f"m{2 * i + 1:04}"
            )
        # Ties on the timestamp: the path follows the links, not the clock.
        base = timezone.now()
        for i, m in enumerate(c.messages.order_by("content")):
            Message.objects.filter(id=m.id).update(created_at=base + timedelta(seconds=i // 7))
        return c

    c = await sync_to_async(make)()
    _, _, body, _ = await _download(await _signed_in("lin"), f"/c/{c.id}/export.json")
    contents = [m["content"] for m in json.loads(body)["messages"]]
    assert len(contents) == export.PAGE * 2 + 50
    assert len(set(contents)) == len(contents)
    assert contents == sorted(contents)


async def test_exports_belong_to_the_owner() -> None:
    _, c = await sync_to_async(_setup)()
    await sync_to_async(User.objects.create_user)("mallory")
    mallory = await _signed_in("mallory")
    for fmt in ("md", "json"):
        assert (await mallory.get(f"/c/{c.id}/export.{fmt}")).status_code == 404
        assert (await AsyncClient().get(f"/c/{c.id}/export.{fmt}")).status_code == 302
    assert (await (await _signed_in("ada")).get(f"/c/{c.id}/export.html")).status_code == 404


def _thinking() -> Conversation:
    user = User.objects.create_user("turing", password="pw-for-tests-1")
    c = Conversation.objects.create(user=user, model="demo-thinking", title="Think")
    q = Message.objects.create(conversation=c, role="user", content="Odd or even?")
    Message.objects.create(
        conversation=c, role="assistant", reply_to=q, model="demo-thinking",
        status="complete", content="Even.", reasoning="7 + 1 = 8.\n\n8 is even.",
        reasoning_ms=2100.0, reasoning_tokens=9,
    )  # fmt: skip
    return c


async def test_exports_keep_the_reasoning_apart_from_the_answer() -> None:
    c = await sync_to_async(_thinking)()
    client = await _signed_in("turing")
    markdown = "md"  # the extension, spelled apart from a file name
    _, _, body, _ = await _download(client, f"/c/{c.id}/export.{markdown}")
    assert body.decode().endswith(
        "\n## Assistant (demo-thinking)\n\n"
        "> **Thinking** (2 s)\n>\n> 7 + 1 = 8.\n>\n> 8 is even.\n\nEven.\n"
    )
    _, _, body, _ = await _download(client, f"/c/{c.id}/export.json")
    answer = json.loads(body)["messages"][1]
    assert (answer["content"], answer["reasoning"]) == ("Even.", "7 + 1 = 8.\n\n8 is even.")
    assert (answer["metrics"]["reasoning_ms"], answer["metrics"]["reasoning_tokens"]) == (2100.0, 9)
