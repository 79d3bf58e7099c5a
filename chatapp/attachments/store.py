"""The one place that writes and deletes attachment files.

Stored names are random (``secrets.token_hex``) with the detected type's
extension: never the user's name, never shared between two uploads, even of
the same bytes by the same user. An image's thumbnail is a second file with
its own random name. Files go through Django's default storage (the file
system, or a bucket: docs/operations.md, Attachments).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import QuerySet

from chatapp.attachments.prepare import Prepared
from chatapp.attachments.thumbnail import EXTENSION as THUMBNAIL_EXTENSION
from chatapp.models import Attachment, Conversation, Message

logger = logging.getLogger(__name__)

# 128 random bits: as unguessable as the UUIDs in Spool's URLs.
NAME_BYTES = 16


@contextmanager
def files_removed_on_failure() -> Iterator[list[str]]:
    """Yields a list the block adds stored names to; if the block raises
    (the send's transaction then rolls back), those files are deleted, so a
    refused send leaves no file behind."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        delete_files(stored)
        raise


def attachments_save(
    *, message: Message, files: Sequence[Prepared], stored: list[str]
) -> list[Attachment]:
    """One row and one stored file (two for an image: its thumbnail) per
    prepared file, on the user ``message``. Each stored name is appended to
    ``stored`` as soon as it exists."""
    saved = []
    for prepared in files:
        attachment = Attachment(
            message=message,
            name=prepared.name,
            alt=prepared.alt,
            kind=prepared.kind.value,
            media_type=prepared.media_type,
            size=prepared.size,
            width=prepared.width,
            height=prepared.height,
            text=prepared.text,
            note=prepared.note,
        )
        random_name = f"{secrets.token_hex(NAME_BYTES)}.{prepared.extension}"
        attachment.file.save(random_name, ContentFile(prepared.data), save=False)
        stored.append(attachment.file.name or "")
        if prepared.thumbnail is not None:
            # Its own random name: nothing links it to the full file's.
            thumb_name = f"{secrets.token_hex(NAME_BYTES)}.{THUMBNAIL_EXTENSION}"
            attachment.thumbnail.save(thumb_name, ContentFile(prepared.thumbnail.data), save=False)
            stored.append(attachment.thumbnail.name or "")
        attachment.save()
        saved.append(attachment)
    return saved


def stored_names(conversations: QuerySet[Conversation]) -> list[str]:
    """The stored files of ``conversations``' messages, thumbnails included
    (read before deleting them). Once each: an edited question's rows name
    the same files as the original's (``versions.carry_over``)."""
    found = Attachment.objects.filter(message__conversation__in=conversations)
    names = (name for pair in found.values_list("file", "thumbnail") for name in pair)
    return list(dict.fromkeys(name for name in names if name))


def delete_files(names: Iterable[str]) -> None:
    """Remove stored files; one that is already gone is no error."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            # Left for an operator to find (docs/operations.md): the row is
            # gone, so nobody can reach the file any more.
            logger.warning("attachment file %s could not be deleted", name, exc_info=True)


def read_file(attachment: Attachment, *, thumbnail: bool = False) -> bytes:
    """The stored file's bytes (its thumbnail's with ``thumbnail``).

    ``FileNotFoundError`` when storage no longer has it (restored from an
    older backup, removed by hand) or the row names no file: the callers
    answer 404 or tell the model, never fail the request for it."""
    name = (attachment.thumbnail if thumbnail else attachment.file).name or ""
    if not name:
        raise FileNotFoundError(f"attachment {attachment.id} has no stored file")
    with default_storage.open(name, "rb") as f:
        data: bytes = f.read()
    return data
