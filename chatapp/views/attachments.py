"""Attachments: received with a send, served back to their owner only."""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from chatapp import selectors
from chatapp.attachments.errors import AttachmentError
from chatapp.attachments.prepare import Prepared, prepare_all
from chatapp.attachments.store import read_file
from chatapp.attachments.upload import upload_problem
from chatapp.models import Attachment
from chatapp.services import SendError
from chatapp.views.common import HtmxHttpRequest, alogin_required

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


def _load(user: User, attachment_id: UUID) -> tuple[Attachment, bytes]:
    attachment = selectors.attachment_for_user(user=user, attachment_id=attachment_id)
    return attachment, read_file(attachment)


@require_GET
@alogin_required
async def attachment_file(
    request: HtmxHttpRequest, attachment_id: UUID, *, user: User
) -> HttpResponse:
    """The stored file, to the owner of its conversation (404 for anyone else).

    Images are shown inline; everything else downloads (Content-Disposition:
    attachment), and nothing is sniffed into another type (nosniff). Files are
    at most SPOOL_MAX_UPLOAD_MB: read in one hop, sent in one piece."""
    attachment, data = await sync_to_async(_load)(user, attachment_id)
    content_type = attachment.media_type
    if attachment.kind == Attachment.Kind.TEXT:
        content_type = "text/plain; charset=utf-8"
    response = HttpResponse(data, content_type=content_type)
    disposition = content_disposition_header(not attachment.is_image, attachment.name)
    if disposition is not None:  # None only for an inline file without a name
        response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = CACHE_CONTROL
    return response
