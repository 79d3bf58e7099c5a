"""What the model reads of a message's attachments, and who may see images.

Images go as ``data:`` URLs (the stored copy is already upright, scaled to
2048 px at most and stripped); text files and PDFs as their text under the
file's name. A model that takes no images is never sent one: the send is
refused before it starts (``check_vision``), and so is asking a stored
question with one again, by Edit & resend, Regenerate, Retry or Continue
(``check_carried_vision``); an image in the earlier turns is replaced by a
line saying it was left out. An image whose stored
file is gone (restored from an older backup, removed by hand) becomes a line
saying so: the conversation goes on without it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from uuid import UUID

from django.conf import settings

from chatapp.attachments.errors import AttachmentError
from chatapp.attachments.prepare import Prepared
from chatapp.attachments.sniff import Kind
from chatapp.attachments.store import read_file
from chatapp.endpoints import ModelEntry
from chatapp.models import Attachment, Message
from streaming.providers.base import ContentPart, FilePart, ImagePart

logger = logging.getLogger(__name__)

IMAGE_LEFT_OUT = "An image was attached here; this model reads no images, so it was left out."
IMAGE_MISSING = "Image {name} is no longer available."


def accepts_images(entry: ModelEntry) -> bool:
    """The model's endpoint says ``vision``, or SPOOL_LLM_VISION_MODELS names it
    (by its id or its server's name; ``*`` names every model)."""
    listed = settings.SPOOL_LLM_VISION_MODELS
    return entry.options.vision or "*" in listed or entry.id in listed or entry.name in listed


def check_vision(entry: ModelEntry, files: Sequence[Prepared]) -> None:
    """Refuse images for a model that reads none, before anything is written."""
    images = [f.name for f in files if f.kind is Kind.IMAGE]
    if images and not accepts_images(entry):
        raise AttachmentError(
            f"{entry.label} does not read images, so “{images[0]}” cannot be sent to it. "
            "Remove the image, or start a new conversation with a model that reads images; "
            "your text and files are kept."
        )


def check_carried_vision(entry: ModelEntry, question: Message, *, answered: bool = False) -> None:
    """A stored question asked again, refused, as a send's images are, for a
    model that reads no images (its options changed since it was asked),
    before anything is written: the model would get the "left out" note in
    the image's place and answer without it.

    Edit & resend gives the new question the old one's files
    (``versions.carry_over``); ``answered``: Regenerate, Retry or Continue
    answer the stored question itself. Neither can drop the image (the edit
    box takes text only), so the way out is another message, or another
    conversation with a model that reads images."""
    images = [a.name for a in question.attachments.all() if a.kind == Attachment.Kind.IMAGE]
    if not images or accepts_images(entry):
        return
    if answered:
        raise AttachmentError(
            f"{entry.label} does not read images, and this answer's question has "
            f"“{images[0]}” attached: the model cannot answer it again without seeing it. "
            "Ask in a new message without the image, or start a new conversation with a "
            "model that reads images."
        )
    raise AttachmentError(
        f"{entry.label} does not read images, so this question cannot be sent again "
        f"with “{images[0]}” attached to it. Ask in a new message without the image, "
        "or start a new conversation with a model that reads images; your text is kept."
    )


def prepared_parts(files: Sequence[Prepared]) -> tuple[ContentPart, ...]:
    """Parts of files not stored yet: for the size check before a send."""
    return tuple(
        FilePart(f.name, f.media_type, f.size, f.text, f.note)
        if f.kind is not Kind.IMAGE
        else ImagePart("", f.name, f.media_type, f.size, f.width or 0, f.height or 0)
        for f in files
    )


def stored_parts(message: Message) -> tuple[ContentPart, ...]:
    """A stored message's attachments as parts for the size check only: images
    without their data (no file is read)."""
    return tuple(
        ImagePart("", a.name, a.media_type, a.size, a.width or 0, a.height or 0)
        if a.kind == Attachment.Kind.IMAGE
        else FilePart(a.name, a.media_type, a.size, a.text, a.note)
        for a in message.attachments.all()
    )


def parts_by_message(
    messages: Sequence[Message], *, images: bool
) -> dict[UUID, tuple[ContentPart, ...]]:
    """The attachments of ``messages`` as prompt parts, by message id, in the
    order they were attached. ``images``: whether the model reads them."""
    found: dict[UUID, list[ContentPart]] = {}
    rows = Attachment.objects.filter(message__in=[m.id for m in messages])
    for attachment in rows.order_by("created_at", "id"):
        found.setdefault(attachment.message_id, []).append(_part(attachment, images=images))
    return {message_id: tuple(parts) for message_id, parts in found.items()}


def _part(attachment: Attachment, *, images: bool) -> ContentPart:
    if attachment.kind != Attachment.Kind.IMAGE:
        text, note = attachment.text, attachment.note
        return FilePart(attachment.name, attachment.media_type, attachment.size, text, note)
    if not images:
        return FilePart(attachment.name, attachment.media_type, attachment.size, "", IMAGE_LEFT_OUT)
    try:
        data = read_file(attachment)
    except FileNotFoundError:
        logger.warning(
            "attachment %s: stored file %r is missing; the model is told so",
            attachment.id,
            attachment.file.name,
        )
        missing = IMAGE_MISSING.format(name=attachment.name)
        return FilePart(attachment.name, attachment.media_type, attachment.size, "", missing)
    encoded = base64.b64encode(data).decode("ascii")
    return ImagePart(
        f"data:{attachment.media_type};base64,{encoded}",
        attachment.name,
        attachment.media_type,
        attachment.size,
        attachment.width or 0,
        attachment.height or 0,
    )
