"""Read-only links: the owner shares a snapshot of a conversation, and revokes it.

A share copies the conversation as it is (the messages
``selectors.conversation_messages`` shows, their rendered HTML) into its own
row: what is written, edited or deleted afterwards never reaches the link.
Its token is ``secrets.token_urlsafe(32)`` (256 random bits), the only key
to it. Revoking deletes the row and its copy, so the link is a 404 at once;
so is a link to a deleted conversation (``share_for_token``).

A shared question's attachments are copied as the ids (and what the page
shows of them: name, alt text, size) it had when shared; the files stay
where they are, served through the link (``share_attachment``) only while
the link lives and only for an id in its copy.
"""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from chatapp import selectors
from chatapp.models import Attachment, Conversation, Message, Share
from streaming.markdown import render_markdown
from streaming.runs import chips
from streaming.runs.segments import answer_html
from streaming.runs.store import ToolRecord

TOKEN_BYTES = 32


def _attachment(a: Attachment) -> dict[str, Any]:
    """What the shared page shows of a file; ``id`` is also the key that lets
    the link serve it (``share_attachment``). A copy taken before thumbnails
    existed has no ``thumb_width``: its page shows the full image."""
    thumb_width, thumb_height = a.thumbnail_size or (None, None)
    return {
        "id": str(a.id),
        "name": a.name,
        "alt": a.alt,
        "image": a.is_image,
        "size": a.size,
        "width": a.width,
        "height": a.height,
        "thumb_width": thumb_width,
        "thumb_height": thumb_height,
        "note": a.note,
    }


def _snapshot(conversation: Conversation) -> list[dict[str, Any]]:
    """The transcript as plain values: user text (escaped when shown), its
    files, answer HTML (rendered and sanitised by the markdown renderer, as
    stored; a live answer's drawn from its last checkpoint: ``_live_html``)."""
    shown: list[dict[str, Any]] = []
    for m in selectors.conversation_messages(conversation=conversation):
        if m.role == Message.Role.USER:
            files = [_attachment(a) for a in m.attachments.all()]  # prefetched
            shown.append(
                {"role": "user", "text": m.content, **({"attachments": files} if files else {})}
            )
            continue
        if m.is_live:
            if not m.content and not m.tool_calls:
                continue  # nothing written yet
            html = _live_html(m)
        else:
            html = m.html or render_markdown(m.content)
        shown.append({"role": "assistant", "html": html, "status": m.status, "model": m.model})
    return shown


def _live_html(message: Message) -> str:
    """A live answer's HTML (its stored HTML is empty until it ends): its
    checkpointed text and tool calls drawn as a finished answer with them
    is (``answer_html``, as for a crashed one), each chip where it was. A
    call still running shows its words without the spinner: the copy never
    changes, and a spinner would turn on it for ever."""
    calls = [ToolRecord.from_dict(call) for call in message.tool_calls or ()]
    html = answer_html(message.content, [call.chip for call in calls if call.chip is not None])
    return html.replace(chips.SPINNER, "")


@transaction.atomic
def share_create(*, conversation: Conversation) -> Share:
    """Share ``conversation`` as it is now; sharing again retakes the snapshot
    behind the same link, and so does sharing twice at once (the later of
    two racing inserts takes the earlier one's link)."""
    now = timezone.now()
    values = {
        "title": conversation.title or "Untitled",
        "messages": _snapshot(conversation),
        "snapshot_at": now,
    }
    share = Share.objects.select_for_update().filter(conversation=conversation).first()
    if share is None:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            # A savepoint: the transaction goes on if the insert fails.
            with transaction.atomic():
                return Share.objects.create(conversation=conversation, token=token, **values)
        except IntegrityError:
            # Shared twice at once (a double submit): the lock above locks no
            # row yet, so both found none and the other insert won (one link
            # per conversation). Its link is this one too: retake its snapshot.
            share = Share.objects.select_for_update().get(conversation=conversation)
    Share.objects.filter(id=share.id).update(**values)
    share.refresh_from_db()
    return share


def share_revoke(*, conversation: Conversation) -> bool:
    """Stop sharing: the link is a 404 from now on. False if it was not shared."""
    deleted, _ = Share.objects.filter(conversation=conversation).delete()
    return bool(deleted)


def share_of(*, conversation: Conversation) -> Share | None:
    """The conversation's live link, for its owner's page."""
    return Share.objects.filter(conversation=conversation).first()


def share_for_token(*, token: str) -> Share:
    """The share behind a link, for anyone who has it; 404 once revoked or
    once its conversation is deleted."""
    try:
        return Share.objects.get(token=token, conversation__deleted_at__isnull=True)
    except Share.DoesNotExist:
        raise Http404("No such link.") from None


def share_attachment(*, token: str, attachment_id: UUID | str) -> Attachment:
    """A file of the shared copy, for anyone with the link: 404 once the link
    is revoked, and for any id the copy does not list (another
    conversation's file, or one sent after the snapshot, is never reachable
    through the token, whatever its id)."""
    share = share_for_token(token=token)
    listed = {
        a["id"] for m in share.messages if m["role"] == "user" for a in m.get("attachments", ())
    }
    if str(attachment_id) not in listed:
        raise Http404("No such attachment.")
    try:
        # The conversation too: the copy is trusted only for its own files.
        return Attachment.objects.get(id=attachment_id, message__conversation=share.conversation_id)
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such attachment.") from None
