"""The reasoning-effort picker of a conversation (models configured as reasoning models)."""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from chatapp import conversations, selectors, services
from chatapp.views.common import HtmxHttpRequest, alogin_required


@require_POST
@alogin_required
async def conversation_effort(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    """Save the effort later answers ask for ("" : the model's default)."""
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    try:
        await sync_to_async(conversations.conversation_set_reasoning_effort)(
            conversation=conversation, effort=request.POST.get("effort", "")
        )
    except services.SendError as exc:
        # Only a hand-made post sends a value the picker does not offer.
        return HttpResponseBadRequest(exc.message)
    url = reverse("conversation", args=[conversation.id]) + "?effort=saved#reasoning-effort"
    return HttpResponseRedirect(url, status=303)
