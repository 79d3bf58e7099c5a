"""Attachments listed where a conversation is read outside its page: the
Markdown and JSON exports (chatapp/export.py) and the admin (chatapp/attachments/admin.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client, override_settings

from chatapp.attachments.prepare import prepare
from chatapp.attachments.store import attachments_save
from chatapp.models import Conversation, Message
from tests.support.attachments import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

MARKDOWN = "md"  # the export extension, spelled apart from a file name


@pytest.fixture
def conversation(tmp_path: Path) -> Iterator[Conversation]:
    with override_settings(MEDIA_ROOT=tmp_path):
        yield _conversation()


def _conversation() -> Conversation:
    owner = User.objects.create_user("ada", password="pw-for-tests-1")
    c = Conversation.objects.create(user=owner, model="demo", title="Plans")
    q = Message.objects.create(conversation=c, role="user", content="See these")
    files = [prepare("map.png", image_bytes(30, 20)), prepare("plan.txt", b"Plan: 1. sow\n")]
    attachments_save(message=q, files=files, stored=[])
    Message.objects.create(conversation=c, role="assistant", reply_to=q, content="Seen.")
    return c


async def _get(conversation: Conversation, url: str) -> str:
    client = AsyncClient()
    await client.aforce_login(await User.objects.aget(id=conversation.user_id))
    response = await client.get(url)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    return b"".join([bytes(chunk) async for chunk in response]).decode()


async def test_the_markdown_export_lists_the_attachments(conversation: Conversation) -> None:
    body = await _get(conversation, f"/c/{conversation.id}/export.{MARKDOWN}")
    assert "See these\n\n- Attached: map.png (image/png, " in body
    assert "- Attached: plan.txt (text/plain, 13\xa0bytes)" in body


async def test_the_json_export_lists_the_attachments(conversation: Conversation) -> None:
    doc = json.loads(await _get(conversation, f"/c/{conversation.id}/export.json"))
    question, answer = doc["messages"]
    names = [(a["name"], a["kind"], a["width"]) for a in question["attachments"]]
    assert names == [("map.png", "image", 30), ("plan.txt", "text", None)]
    assert "attachments" not in answer


def test_the_admin_lists_a_message_s_attachments(conversation: Conversation) -> None:
    admin = User.objects.create_superuser("root", "root@example.com", "pw-admin-1")
    client = Client()
    client.force_login(admin)
    question = conversation.messages.get(role="user")
    page = client.get(f"/admin/chatapp/message/{question.id}/change/").content.decode()
    assert "map.png" in page
    assert "plan.txt" in page
    assert "30 x 20 px WebP" in page  # the thumbnail's size, never its pixels
    assert "/thumb" not in page
    listing = client.get("/admin/chatapp/attachment/", {"kind__exact": "image"}).content.decode()
    assert "map.png" in listing
    assert "plan.txt" not in listing
    image = conversation.messages.get(role="user").attachments.get(kind="image")
    detail = client.get(f"/admin/chatapp/attachment/{image.id}/change/").content.decode()
    assert "30 x 20 px WebP" in detail
