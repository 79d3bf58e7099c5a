"""Read-only links: the owner's create and revoke, and the page anyone with the link sees."""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from chatapp import selectors, shares
from chatapp.models import Attachment
from chatapp.views.attachments import file_response, read_or_404, thumbnail_response
from chatapp.views.common import HtmxHttpRequest, alogin_required, arender

# Where the owner lands after creating or revoking: the menu, open, saying so,
# focus on the next control. No "#share": Chromium moves focus away from an
# autofocused control when it scrolls to a fragment (the menu is at the top).
BACK = "{url}?share={what}"


@require_POST
@alogin_required
async def conversation_share(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    """Create the read-only link (or retake its snapshot: same link, as of now)."""
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    await sync_to_async(shares.share_create)(conversation=conversation)
    url = reverse("conversation", args=[conversation.id])
    return HttpResponseRedirect(BACK.format(url=url, what="created"), status=303)


@require_POST
@alogin_required
async def conversation_share_revoke(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    await sync_to_async(shares.share_revoke)(conversation=conversation)
    url = reverse("conversation", args=[conversation.id])
    return HttpResponseRedirect(BACK.format(url=url, what="revoked"), status=303)


@require_GET
async def shared_conversation(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """The snapshot, for anyone with the link, signed in or not: no composer,
    no controls (a POST here is refused: 405, or 403 without a CSRF token).

    Not indexed, never cached (a revoked link must not linger in a cache),
    and no ``Referer`` leaves the page: the token is the URL.
    """
    share = await sync_to_async(shares.share_for_token)(token=token)
    response = await arender(request, "chat/share_page.html", {"share": share})
    return _unlisted(response)


def _unlisted(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _load(token: str, attachment_id: UUID, *, thumbnail: bool) -> tuple[Attachment, bytes]:
    attachment = shares.share_attachment(token=token, attachment_id=attachment_id)
    return attachment, read_or_404(attachment, thumbnail=thumbnail)


@require_GET
async def shared_attachment(
    request: HtmxHttpRequest, token: str, attachment_id: UUID
) -> HttpResponse:
    """A file of the shared copy, for anyone with the link (404 once revoked,
    or for a file the copy does not list), with the owner's view's headers
    (inline images, every other file a download, nosniff, sandboxed) and the
    link page's: never cached, since revoking must end access at once."""
    attachment, data = await sync_to_async(_load)(token, attachment_id, thumbnail=False)
    return _unlisted(file_response(attachment, data))


@require_GET
async def shared_attachment_thumbnail(
    request: HtmxHttpRequest, token: str, attachment_id: UUID
) -> HttpResponse:
    """An image's thumbnail through the link, under ``shared_attachment``'s
    rules and headers."""
    attachment, data = await sync_to_async(_load)(token, attachment_id, thumbnail=True)
    return _unlisted(thumbnail_response(attachment, data))
