"""Pages and the actions posted from them: send, continue, stop (versions:
chatapp/views/versions.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from chatapp import continuation, conversations, export, live, selectors, services, shares
from chatapp.endpoints import REASONING_EFFORTS
from chatapp.live import aprepare_messages
from chatapp.models import Conversation
from chatapp.runtime import catalogue, default_model, is_reasoning_model
from chatapp.search import search as search_conversations
from chatapp.selectors import ConversationGroup
from chatapp.views import attachments
from chatapp.views.common import (
    HtmxHttpRequest,
    alogin_required,
    arender,
    live_or_none,
    said_if_failed,
)
from streaming.snapshot import Reasoning
from streaming.sse import parse_last_event_id

# The session remembers, for one page load, the answer the first send started:
# the page it is redirected to must announce that answer from its start.
JUST_SENT_KEY = "spool_just_sent"

# The sidebar and the list page show this many of the most recent conversations:
# enough for months of use, few enough that every page stays light.
LISTED_CONVERSATIONS = 100


def _listed_conversations(user: User, page: int = 1) -> tuple[list[ConversationGroup], bool]:
    """One page of the user's conversations, grouped, and whether more follow."""
    start = (page - 1) * LISTED_CONVERSATIONS
    found = list(selectors.conversation_list(user=user)[start : start + LISTED_CONVERSATIONS + 1])
    more = len(found) > LISTED_CONVERSATIONS
    today = timezone.localdate()
    return selectors.group_conversations(found[:LISTED_CONVERSATIONS], today=today), more


def _page_context(user: User, conversation: Conversation | None, **extra: Any) -> dict[str, Any]:
    groups, more = _listed_conversations(user)
    return {
        "conversation_groups": groups,
        "more_conversations": more,
        # The phone's Conversations control says how many answers are being written.
        "live_count": selectors.live_run_count(user=user),
        "conversation": conversation,
        "model_groups": catalogue().groups,
        "default_model": default_model(),
        "system_prompt": services.system_prompt_of(conversation) if conversation else "",
        # The effort picker, for a model configured as a reasoning model.
        "reasoning_model": conversation is not None and is_reasoning_model(conversation.model),
        "reasoning_efforts": REASONING_EFFORTS,
        # The read-aloud switch by the composer, and which announcements the page keeps.
        "read_aloud": selectors.preferences_for(user=user).read_aloud,
        # The conversation's read-only link, if shared (its menu offers it).
        "share": shares.share_of(conversation=conversation) if conversation else None,
        **extra,
    }


@require_GET
@alogin_required
async def home(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    context = await sync_to_async(_page_context)(user, None)
    context["undo"] = await sync_to_async(_undoable)(user, request.GET.get("deleted", ""))
    context["undo_expired"] = request.GET.get("undo") == "expired"
    return await arender(request, "chat/page.html", context)


def _undoable(user: User, conversation_id: str) -> Conversation | None:
    """The conversation just deleted, while Undo can still bring it back."""
    if not conversation_id:
        return None
    try:
        return selectors.deleted_conversation_for_user(
            user=user, conversation_id=conversation_id, since=conversations.undo_deadline()
        )
    except Http404:
        return None


@require_GET
@alogin_required
async def conversation_list(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    """The user's conversations and "New conversation", as a page of its own.

    The phone layout has no sidebar: its header control links here, and the
    script upgrades that link to open the same list in a dialog.
    """
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    groups, more = await sync_to_async(_listed_conversations)(user, page)
    context = {"conversation_groups": groups, "more_conversations": more, "page": page}
    return await arender(request, "chat/list_page.html", context)


@require_GET
@alogin_required
async def search(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    """The user's conversations matching ``q``, with the matching words marked."""
    query = request.GET.get("q", "")
    hits = await sync_to_async(search_conversations)(user=user, query=query)
    context = {"query": query.strip(), "hits": hits}
    return await arender(request, "chat/search_page.html", context)


@require_POST
@alogin_required
async def conversation_new(request: HtmxHttpRequest, *, user: User) -> HttpResponse:
    text = request.POST.get("text", "")
    model = request.POST.get("model") or default_model()
    try:
        files = await attachments.areceived(request)
        sent = await live.asend(
            lambda: services.aconversation_start(user=user, text=text, model=model, files=files),
            user,
        )
    except services.SendError as exc:
        context = await sync_to_async(_page_context)(
            user, None, text=text, error=exc.message, default_model=model
        )
        return await arender(request, "chat/page.html", context, status=exc.status)
    await request.session.aset(JUST_SENT_KEY, str(sent.assistant_message.id))
    return HttpResponseRedirect(reverse("conversation", args=[sent.conversation.id]), status=303)


@require_GET
@alogin_required
async def conversation_detail(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    saved = request.GET.get("instructions") == "saved"
    effort_saved = request.GET.get("effort") == "saved"
    return await _conversation_page(
        request, user, conversation, instructions_saved=saved, effort_saved=effort_saved
    )


async def _conversation_page(
    request: HtmxHttpRequest,
    user: User,
    conversation: Conversation,
    *,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    """The conversation's page, with ``extra`` context (a form's error and text)."""
    messages = await sync_to_async(selectors.conversation_messages)(conversation=conversation)
    live_message = await aprepare_messages(messages)
    just_sent = await request.session.apop(JUST_SENT_KEY, None)
    if live_message is not None and str(live_message.id) == just_sent:
        # Whatever the run wrote before this page connects has not been heard
        # yet (a snapshot would show it silently): the stream replays it all.
        live_message.live_blocks = live_message.live_tail = ""
        live_message.live_reasoning = Reasoning()
        live_message.replay_stream = True
    context = await sync_to_async(_page_context)(
        user, conversation, messages=messages, live_message=live_message, **extra
    )
    share = context["share"]
    if share is not None:
        path = reverse("shared_conversation", args=[share.token])
        context["share_url"] = request.build_absolute_uri(path)
    context["share_done"] = request.GET.get("share", "")
    return await arender(request, "chat/page.html", context, status=status)


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
        await sync_to_async(conversations.conversation_set_system_prompt)(
            conversation=conversation, text=text
        )
    except services.SendError as exc:
        return await _conversation_page(
            request,
            user,
            conversation,
            status=exc.status,
            system_prompt=text,
            instructions_error=exc.message,
        )
    # Back with the disclosure open, saying it was saved.
    url = reverse("conversation", args=[conversation.id]) + "?instructions=saved#instructions"
    return HttpResponseRedirect(url, status=303)


# Export formats: (content type, the module's encoder).
EXPORTS = {
    "md": ("text/markdown; charset=utf-8", export.markdown),
    "json": ("application/json", export.json_document),
}


@require_GET
@alogin_required
async def conversation_export(
    request: HtmxHttpRequest, conversation_id: UUID, fmt: str, *, user: User
) -> StreamingHttpResponse:
    """The conversation as a download, streamed a page of messages at a time."""
    if fmt not in EXPORTS:
        raise Http404("No such format.")
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    content_type, encode = EXPORTS[fmt]
    response = StreamingHttpResponse(encode(conversation), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename(conversation, fmt)}"'
    return response


@require_POST
@alogin_required
async def conversation_rename(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    title = request.POST.get("title", "")
    try:
        await sync_to_async(conversations.conversation_rename)(
            conversation=conversation, title=title
        )
    except services.SendError as exc:
        return await _conversation_page(
            request,
            user,
            conversation,
            status=exc.status,
            rename_title=title,
            rename_error=exc.message,
        )
    return HttpResponseRedirect(reverse("conversation", args=[conversation.id]), status=303)


@require_POST
@alogin_required
async def conversation_pin(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    pinned = request.POST.get("pinned") == "1"
    await sync_to_async(conversations.conversation_pin)(conversation=conversation, pinned=pinned)
    return HttpResponseRedirect(reverse("conversation", args=[conversation.id]), status=303)


@require_http_methods(["GET", "POST"])
@alogin_required
async def conversation_delete(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    """GET asks for confirmation (a page of its own: works without script);
    POST deletes, and the home page then offers Undo."""
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    if request.method == "GET":
        context = {"conversation": conversation, "undo_s": settings.SPOOL_UNDO_DELETE_S}
        return await arender(request, "chat/delete_confirm.html", context)
    await conversations.aconversation_delete(conversation=conversation)
    return HttpResponseRedirect(f"{reverse('home')}?deleted={conversation.id}", status=303)


@require_POST
@alogin_required
async def conversation_restore(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(_undoable)(user, str(conversation_id))
    if conversation is None:
        return HttpResponseRedirect(f"{reverse('home')}?undo=expired", status=303)
    await sync_to_async(conversations.conversation_restore)(conversation=conversation)
    return HttpResponseRedirect(reverse("conversation", args=[conversation.id]), status=303)


@require_POST
@alogin_required
async def message_send(
    request: HtmxHttpRequest, conversation_id: UUID, *, user: User
) -> HttpResponse:
    conversation = await sync_to_async(selectors.conversation_for_user)(
        user=user, conversation_id=conversation_id
    )
    text = request.POST.get("text", "")
    after = request.POST.get("after", "")  # the last answer this page shows
    try:
        files = await attachments.areceived(request)
        sent = await live.asend(
            lambda: services.amessage_send(
                conversation=conversation, text=text, files=files, after=after
            ),
            user,
        )
    except services.SendError as exc:
        return await _send_error(request, conversation, user, text, exc)
    if not request.htmx:
        return HttpResponseRedirect(reverse("conversation", args=[conversation.id]), status=303)
    return await _exchange(request, sent)


@require_POST
@alogin_required
async def message_continue(
    request: HtmxHttpRequest, message_id: UUID, *, user: User
) -> HttpResponse:
    """Stream more into a stopped, interrupted or cut-short answer.

    With htmx the answer's article is replaced by its live form, showing the
    stored text until the stream's snapshot takes over, and the composer
    turns to Stop.
    """
    message = await selectors.amessage_for_user(user=user, message_id=message_id)
    try:
        sent = await live.asend(lambda: continuation.amessage_continue(message=message), user)
    except services.SendError as exc:
        return await _send_error(request, message.conversation, user, "", exc)
    if not request.htmx:
        url = reverse("conversation", args=[message.conversation_id])
        return HttpResponseRedirect(url, status=303)
    answer = sent.assistant_message
    answer.live_blocks = answer.html
    # Its run starts from the stored text (a Continue of thinking alone starts afresh).
    answer.resume_stream = bool(answer.content.strip())
    context = {
        "message": answer,
        "conversation": sent.conversation,
        "live_message": live_or_none(answer),
        "live_count": await selectors.alive_run_count_of(user_id=sent.conversation.user_id),
    }
    return said_if_failed(await arender(request, "chat/_continued.html", context), answer)


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
    """The new messages, appended to the transcript, plus the composer in Stop
    mode (or the answer failed in place, and Send)."""
    answer = sent.assistant_message
    messages = [m for m in (sent.user_message, answer) if m is not None]
    context = {
        "messages": messages,
        "conversation": sent.conversation,
        "live_message": live_or_none(answer),
        "live_count": await selectors.alive_run_count_of(user_id=sent.conversation.user_id),
    }
    return said_if_failed(await arender(request, "chat/_exchange.html", context), answer)


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
    return await _conversation_page(
        request, user, conversation, status=exc.status, text=text, error=exc.message
    )
