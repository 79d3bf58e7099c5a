"""A conversation as Markdown or JSON, produced a page of messages at a time.

The export is the conversation as its page shows it: the active path
(chatapp/tree.py), each message that has other versions marked with its place
among them ("version 2 of 3"); the other versions are not exported.

The export streams: the path's ids are found first (ids and links only, one
query), then its messages are read in pages of ``PAGE`` and each page is
encoded and sent before the next is read, so a long conversation's text never
sits whole in memory (the response is an async iterator of bytes).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.template.defaultfilters import filesizeformat
from django.utils.text import slugify

from chatapp.models import Attachment, Conversation, Message
from chatapp.tree import Tree, Versions
from streaming.runs.store import RunMetrics

PAGE = 200
FORMAT_VERSION = 1
# The message stores each run metric under the metric's own name.
METRICS = tuple(f.name for f in fields(RunMetrics))


def filename(conversation: Conversation, extension: str) -> str:
    return f"{slugify(conversation.title)[:60] or 'conversation'}.{extension}"


async def _pages(conversation: Conversation) -> AsyncIterator[list[Message]]:
    ids, versions = await sync_to_async(_path)(conversation)
    for start in range(0, len(ids), PAGE):
        page = await sync_to_async(_page)(ids[start : start + PAGE])
        for message in page:
            message.versions = versions.get(message.id)
        yield page


def _path(conversation: Conversation) -> tuple[list[UUID], dict[UUID, Versions]]:
    """The active path's ids, in order, and the places of those that have versions."""
    tree = Tree.of(conversation.id)
    ids = tree.path(conversation.active_leaf_id)
    return ids, {i: v for i in ids if (v := tree.versions(i)) is not None}


def _page(ids: list[UUID]) -> list[Message]:
    messages = Message.objects.filter(id__in=ids).prefetch_related("attachments")
    rows = {m.id: m for m in messages}
    return [rows[i] for i in ids if i in rows]


async def markdown(conversation: Conversation) -> AsyncIterator[bytes]:
    yield f"# {conversation.title or 'Conversation'}\n".encode()
    async for page in _pages(conversation):
        yield "".join(_markdown_message(m) for m in page).encode()


def _markdown_message(message: Message) -> str:
    notes = []
    if message.role == Message.Role.USER:
        head = "## You"
    else:
        head = "## Assistant"
        notes = [message.model] if message.model else []
        if message.status != Message.Status.COMPLETE:
            notes.append(message.get_status_display().lower())
    if message.versions is not None:
        notes.append(message.versions.label.lower())
    head += f" ({', '.join(notes)})" if notes else ""
    body = message.content.rstrip() or "*(no text)*"
    files = "".join(
        f"\n- Attached: {a.name} ({a.media_type}, {filesizeformat(a.size)})"
        for a in message.attachments.all()
    )
    if files:
        body += "\n" + files
    error = f"\n\n> {message.error_message}" if message.error_message else ""
    return f"\n{head}\n\n{_markdown_reasoning(message)}{_markdown_tools(message)}{body}{error}\n"


def _markdown_reasoning(message: Message) -> str:
    """The thinking as a quote before the answer, so it reads apart from it."""
    if not message.reasoning.strip():
        return ""
    took = f" ({message.reasoning_seconds} s)" if message.reasoning_ms is not None else ""
    lines = [f"> **Thinking**{took}", ">"]
    lines += [f"> {line}".rstrip() for line in message.reasoning.strip().splitlines()]
    return "\n".join(lines) + "\n\n"


def _markdown_tools(message: Message) -> str:
    """The answer's tool calls, before its text: one list item per call."""
    calls: list[dict[str, Any]] = message.tool_calls or []
    if not calls:
        return ""
    items = []
    for call in calls:
        arguments = call.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        outcome = f"error: {call['error']}" if call.get("error") else call.get("result", "")
        items.append(f"- Tool `{call.get('name', '')}` `{arguments}` → {outcome}")
    return "\n".join(items) + "\n\n"


async def json_document(conversation: Conversation) -> AsyncIterator[bytes]:
    head = {
        "format": "spool-conversation",
        "version": FORMAT_VERSION,
        "id": str(conversation.id),
        "title": conversation.title,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "created_at": conversation.created_at.isoformat(),
    }
    # The document's head, then its messages one by one: valid JSON once whole.
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "messages": ['
    first = True
    async for page in _pages(conversation):
        parts = list(_json_messages(page, first))
        first = False
        yield "".join(parts).encode()
    yield b"]}\n"


def _json_messages(page: list[Message], first: bool) -> Iterator[str]:
    for i, message in enumerate(page):
        separator = "" if first and i == 0 else ","
        yield separator + json.dumps(_message_data(message), ensure_ascii=False)


def _message_data(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(message.id),
        "role": message.role,
        "created_at": message.created_at.isoformat(),
        "content": message.content,
    }
    if message.role == Message.Role.USER:
        data["parent"] = str(message.parent_id) if message.parent_id else None
        data["attachments"] = [_attachment_data(a) for a in message.attachments.all()]
    if message.versions is not None:
        data["versions"] = {"index": message.versions.index, "count": message.versions.count}
    if message.role == Message.Role.ASSISTANT:
        data.update(
            reply_to=str(message.reply_to_id) if message.reply_to_id else None,
            status=message.status,
            model=message.model,
            finish_reason=message.finish_reason or None,
            error=(
                {"code": message.error_code, "message": message.error_message}
                if message.error_code
                else None
            ),
            prompt_dropped=message.prompt_dropped,
            reasoning=message.reasoning or None,
            tool_calls=message.tool_calls or [],
            metrics={name: getattr(message, name) for name in METRICS},
        )
    return data


def _attachment_data(attachment: Attachment) -> dict[str, Any]:
    """What was attached (the files themselves stay on the server)."""
    return {
        "id": str(attachment.id),
        "name": attachment.name,
        "kind": attachment.kind,
        "media_type": attachment.media_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "note": attachment.note or None,
    }
