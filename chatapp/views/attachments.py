"""Attachments: received with a send, served back to their owner only."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from chatapp import selectors
from chatapp.attachments.errors import AttachmentError
from chatapp.attachments.prepare import Prepared, prepare_all
from chatapp.attachments.store import read_file
from chatapp.attachments.thumbnail import EXTENSION as THUMBNAIL_EXTENSION
from chatapp.attachments.thumbnail import MEDIA_TYPE as THUMBNAIL_MEDIA_TYPE
from chatapp.attachments.upload import upload_problem
from chatapp.models import Attachment
from chatapp.services import SendError
from chatapp.views.common import HtmxHttpRequest, alogin_required

logger = logging.getLogger(__name__)

# The composer's file input: <input type="file" name="files" multiple>.
FILES_FIELD = "files"
# Each image's description, by its position among the files: "alt-0", "alt-1"…
ALT_FIELD = "alt-{}"
# A stored file never changes (a new upload gets a new id): the browser may
# keep it, but only for this user (private), and no shared cache may.
CACHE_CONTROL = "private, max-age=86400"
# A file opened straight in the browser runs nothing and loads nothing.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


async def areceived(request: HttpRequest) -> list[Prepared]:
    """The files sent with a message, checked and prepared (none stored yet);
    ``SendError`` (the draft is kept) for the first problem."""
    uploads = request.FILES.getlist(FILES_FIELD)  # parsed already by the CSRF check
    if (problem := upload_problem(request)) is not None:
        raise SendError(problem.message, problem.status)
    if not uploads:
        return []
    try:
        alts = [request.POST.get(ALT_FIELD.format(i), "") for i in range(len(uploads))]
        return await sync_to_async(prepare_all)(uploads, alts)
    except AttachmentError as exc:
        raise SendError(exc.message, exc.status) from None


def read_or_404(attachment: Attachment, *, thumbnail: bool = False) -> bytes:
    """The stored file (or thumbnail), or 404: a row whose file storage no
    longer has is logged for an operator, and the page shows a broken image
    rather than an error page. An image stored before thumbnails existed
    has none: a plain 404 (the page links to the full image instead)."""
    if thumbnail and not attachment.thumbnail:
        raise Http404("No thumbnail.")
    try:
        return read_file(attachment, thumbnail=thumbnail)
    except FileNotFoundError:
        field = attachment.thumbnail if thumbnail else attachment.file
        logger.warning("attachment %s: stored file %r is missing", attachment.id, field.name)
        raise Http404("No such file.") from None


def _load(user: User, attachment_id: UUID, *, thumbnail: bool) -> tuple[Attachment, bytes]:
    attachment = selectors.attachment_for_user(user=user, attachment_id=attachment_id)
    return attachment, read_or_404(attachment, thumbnail=thumbnail)


@require_GET
@alogin_required
async def attachment_file(
    request: HtmxHttpRequest, attachment_id: UUID, *, user: User
) -> HttpResponse:
    """The stored file, to the owner of its conversation (404 for anyone else).

    Images are shown inline; everything else downloads (Content-Disposition:
    attachment), and nothing is sniffed into another type (nosniff). Files are
    at most SPOOL_MAX_UPLOAD_MB: read in one hop, sent in one piece."""
    attachment, data = await sync_to_async(_load)(user, attachment_id, thumbnail=False)
    response = file_response(attachment, data)
    response["Cache-Control"] = CACHE_CONTROL
    return response


@require_GET
@alogin_required
async def attachment_thumbnail(
    request: HtmxHttpRequest, attachment_id: UUID, *, user: User
) -> HttpResponse:
    """An image's thumbnail, under the full file's rules and headers (404 for
    anyone but the owner, and for a file without a thumbnail)."""
    attachment, data = await sync_to_async(_load)(user, attachment_id, thumbnail=True)
    response = thumbnail_response(attachment, data)
    response["Cache-Control"] = CACHE_CONTROL
    return response


def file_response(attachment: Attachment, data: bytes) -> HttpResponse:
    """The stored file with the headers that keep it inert: for its owner
    here, and through a share link (chatapp/views/shares.py), which sets its
    own caching."""
    content_type = attachment.media_type
    if attachment.kind == Attachment.Kind.TEXT:
        content_type = "text/plain; charset=utf-8"
    response = HttpResponse(data, content_type=content_type)
    return _inert(response, attachment.name, inline=attachment.is_image)


def thumbnail_response(attachment: Attachment, data: bytes) -> HttpResponse:
    """The thumbnail, inline, with the full file's protective headers; saved
    from the browser, it is named after the user's file, as WebP."""
    name = f"{PurePosixPath(attachment.name).stem or 'image'}.{THUMBNAIL_EXTENSION}"
    return _inert(HttpResponse(data, content_type=THUMBNAIL_MEDIA_TYPE), name, inline=True)


def _inert(response: HttpResponse, name: str, inline: bool) -> HttpResponse:
    disposition = content_disposition_header(not inline, name)
    if disposition is not None:  # None only for an inline file without a name
        response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    return response
