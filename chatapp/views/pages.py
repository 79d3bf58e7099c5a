"""Pages and the actions posted from them (send, retry, stop)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from chatapp import live, selectors, services
from chatapp.live import aprepare_messages
from chatapp.models import Conversation
from chatapp.runtime import catalogue, default_model
from chatapp.views.common import HtmxHttpRequest, alogin_required, arender
from streaming.sse import parse_last_event_id

# The sidebar and the list page show this many of the most recent conversations:
# enough for months of use, few enough that every page stays light.
LISTED_CONVERSATIONS = 100


def _listed_conversations(user: User) -> list[Conversation]:
    return list(selectors.conversation_list(user=user)[:LISTED_CONVERSATIONS])


def _page_context(user: User, conversation: Conversation | None, **extra: Any) -> dict[str, Any]:
    return {
        "conversations": _listed_conversations(user),
        # The phone's Conversations control says how many answers are being written.
        "live_count": selectors.live_run_count(user=user),
        "conversation": conversation,
        "model_groups": catalogue().groups,
        "default_model": default_model(),
        "max_chars": settings.SPOOL_MAX_MESSAGE_CHARS,
        "system_prompt": services.system_prompt_of(conversation) if conversation else "",
        **extra,
    }


@require_GET
@alogin_required
async def home(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    context = await sync_to_async(_page_context)(user, None)
    return await arender(request, "chat/page.html", context)


@require_GET
@alogin_required
async def conversation_list(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    """The user's conversations and "New conversation", as a page of its own.

    The phone layout has no sidebar: its header control links here, and the
    script upgrades that link to open the same list in a dialog.
    """
    conversations = await sync_to_async(_listed_conversations)(user)
    return await arender(request, "chat/list_page.html", {"conversations": conversations})


@require_POST
@alogin_required
async def conversation_new(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    text = request.POST.get("text", "")
    model = request.POST.get("model") or default_model()
    try:
        sent = await live.asend(
            lambda: services.aconversation_start(user=user, text=text, model=model), user
        )
    except services.SendError as exc:
        context = await sync_to_async(_page_context)(
            user, None, text=text, error=exc.message, default_model=model
        )
        return await arender(request, "chat/page.html", context, status=exc.status)
    return HttpResponseRedirect(reverse("conversation", args=[sent.conversation.id]), status=303)


@require_GET
@alogin_required
async def conversation_detail(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    messages = await sync_to_async(selectors.conversation_messages)(conversation=conversation)
    live_message = await aprepare_messages(messages)
    context = await sync_to_async(_page_context)(
        user,
        conversation,
        messages=messages,
        live_message=live_message,
        instructions_saved=request.GET.get("instructions") == "saved",
    )
    return await arender(request, "chat/page.html", context)


@require_POST
@alogin_required
async def conversation_instructions(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    """Save the conversation's system prompt ("Use the default" clears it)."""
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    use_default = request.POST.get("action") == "default"
    text = None if use_default else request.POST.get("system_prompt", "")
    try:
        await sync_to_async(services.conversation_set_system_prompt)(
            conversation=conversation, text=text
        )
    except services.SendError as exc:
        messages = await sync_to_async(selectors.conversation_messages)(conversation=conversation)
        live_message = await aprepare_messages(messages)
        context = await sync_to_async(_page_context)(
            user,
            conversation,
            messages=messages,
            live_message=live_message,
            system_prompt=text,
            instructions_error=exc.message,
        )
        return await arender(request, "chat/page.html", context, status=exc.status)
    # Back with the disclosure open, saying it was saved.
    url = reverse("conversation", args=[conversation.id]) + "?instructions=saved#instructions"
    return HttpResponseRedirect(url, status=303)


@require_POST
@alogin_required
async def message_send(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    text = request.POST.get("text", "")
    try:
        sent = await live.asend(
            lambda: services.amessage_send(conversation=conversation, text=text), user
        )
    except services.SendError as exc:
        return await _send_error(request, conversation, user, text, exc)
    if not request.htmx:
        return HttpResponseRedirect(reverse("conversation", args=[conversation.id]), status=303)
    return await _exchange(request, sent)


@require_POST
@alogin_required
async def message_retry(request: HtmxHttpRequest, message_id: UUID, *, user: User) -> HttpResponse:
    message = await selectors.amessage_for_user(user=user, message_id=message_id)
    try:
        sent = await live.asend(lambda: services.amessage_retry(message=message), user)
    except services.SendError as exc:
        return await _send_error(request, message.conversation, user, "", exc)
    if not request.htmx:
        url = reverse("conversation", args=[message.conversation_id])
        return HttpResponseRedirect(url, status=303)
    return await _exchange(request, sent)


@require_POST
@alogin_required
async def message_stop(request: HtmxHttpRequest, message_id: UUID, *, user: User) -> HttpResponse:
    message = await selectors.amessage_for_user(user=user, message_id=message_id)
    seen = parse_last_event_id(request.POST.get("seen"))
    await services.amessage_stop(message=message, seen_offset=seen)
    if request.htmx:
        # The page learns the outcome from the stream's final events.
        return HttpResponse(status=204)
    url = reverse("conversation", args=[message.conversation_id])
    return HttpResponseRedirect(url, status=303)


async def _exchange(request: HtmxHttpRequest, sent: services.Sent) -> HttpResponse:
    """The new messages, appended to the transcript, plus the composer in Stop mode."""
    messages = [m for m in (sent.user_message, sent.assistant_message) if m is not None]
    return await arender(
        request,
        "chat/_exchange.html",
        {
            "messages": messages,
            "conversation": sent.conversation,
            "live_message": sent.assistant_message,
        },
    )


async def _send_error(
    request: HtmxHttpRequest,
    conversation: Conversation,
    user: User,
    text: str,
    exc: services.SendError,
) -> HttpResponse:
    if request.htmx:
        # Only the error is swapped in: the composer, and the text in it, stay.
        response = await arender(request, "chat/_composer_error.html", {"error": exc.message})
        response.status_code = exc.status
        return reswap(retarget(response, "#composer-error"), "innerHTML")
    messages = await sync_to_async(selectors.conversation_messages)(conversation=conversation)
    live_message = await aprepare_messages(messages)
    context = await sync_to_async(_page_context)(
        user,
        conversation,
        messages=messages,
        live_message=live_message,
        text=text,
        error=exc.message,
    )
    return await arender(request, "chat/page.html", context, status=exc.status)
