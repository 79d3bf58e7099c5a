"""Versions: Regenerate (and Retry), Edit & resend, and the "2/3" switcher.

Each works as a plain form (the answer is a redirect to the conversation,
which shows the new path); with htmx the transcript (``#messages``) is
replaced by the new path, so a regenerated answer streams where the old one
was and the turns below it give way to the new branch.
"""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from chatapp import live, selectors, services, tree, versions
from chatapp.models import Conversation, Message
from chatapp.views.common import (
    HtmxHttpRequest,
    alogin_required,
    arender,
    live_or_none,
    said_if_failed,
)
from chatapp.views.pages import _conversation_page, _send_error


def _back_to(conversation_id: UUID, message_id: UUID | None = None) -> HttpResponseRedirect:
    url = reverse("conversation", args=[conversation_id])
    return HttpResponseRedirect(url + (f"#m-{message_id}" if message_id else ""), status=303)


def _path(conversation: Conversation) -> list[Message]:
    conversation.refresh_from_db()  # its active leaf moved
    return selectors.conversation_messages(conversation=conversation)


async def _branch(
    request: HtmxHttpRequest,
    conversation: Conversation,
    live_message: Message | None,
    messages: list[Message] | None = None,
) -> HttpResponse:
    """The transcript's new path, and the composer (Stop while ``live_message`` is written)."""
    if messages is None:
        messages = await sync_to_async(_path)(conversation)
    for message in messages:
        if live_message is not None and message.id == live_message.id:
            # The page shows nothing of the new version yet: its stream replays
            # the run from the start, so what was said before it connected
            # (a fast answer's "Answer complete.") is heard too.
            message.replay_stream = True
    context = {
        "messages": messages,
        "conversation": conversation,
        "live_message": live_message,
        "live_count": await selectors.alive_run_count_of(user_id=conversation.user_id),
    }
    return await arender(request, "chat/_branch.html", context)


async def _new_branch(request: HtmxHttpRequest, sent: services.Sent) -> HttpResponse:
    """The branch a regenerate or an edit made, its answer streaming (or
    failed in place: it could not start)."""
    answer = sent.assistant_message
    response = await _branch(request, sent.conversation, live_or_none(answer))
    return said_if_failed(response, answer)


@require_POST
@alogin_required
async def message_regenerate(
    request: HtmxHttpRequest, message_id: UUID, *, user: User
) -> HttpResponse:
    """A new version of the answer, streamed in its place (Retry posts here too)."""
    message = await selectors.amessage_for_user(user=user, message_id=message_id)
    try:
        sent = await live.asend(lambda: versions.amessage_regenerate(message=message), user)
    except services.SendError as exc:
        return await _send_error(request, message.conversation, user, "", exc)
    if not request.htmx:
        return _back_to(message.conversation_id, sent.assistant_message.id)
    return await _new_branch(request, sent)


@require_http_methods(["GET", "POST"])
@alogin_required
async def message_edit(request: HtmxHttpRequest, message_id: UUID, *, user: User) -> HttpResponse:
    """GET: the question as a form (with htmx only its article; ``cancel=1``:
    the question again). POST: Edit & resend, a new branch from its parent."""
    message = await selectors.amessage_for_user(user=user, message_id=message_id)
    conversation = message.conversation
    if message.role != Message.Role.USER:
        return _back_to(conversation.id, message.id)
    if request.method == "GET":
        return await _edit_form(request, user, message, cancel=request.GET.get("cancel") == "1")
    text = request.POST.get("text", "")
    try:
        sent = await live.asend(lambda: versions.amessage_edit(message=message, text=text), user)
    except services.SendError as exc:
        if request.htmx:
            # Only the error is swapped in, inside the edit form: the box keeps
            # the text as typed, and the composer (its own text) is not touched.
            return await _edit_error(request, message, exc)
        return await _conversation_page(
            request, user, conversation, status=exc.status, editing=message.id,
            edit_text=text, edit_error=exc.message,
        )  # fmt: skip
    if not request.htmx:
        return _back_to(conversation.id, sent.assistant_message.id)
    return await _new_branch(request, sent)


async def _edit_error(
    request: HtmxHttpRequest, message: Message, exc: services.SendError
) -> HttpResponse:
    response = await arender(
        request, "chat/_composer_error.html", {"error": exc.message}, status=exc.status
    )
    return reswap(retarget(response, f"#m-{message.id}-edit-error"), "innerHTML")


async def _edit_form(
    request: HtmxHttpRequest, user: User, message: Message, *, cancel: bool
) -> HttpResponse:
    if not request.htmx:
        # The whole page with this question as a form: works without script.
        return await _conversation_page(request, user, message.conversation, editing=message.id)
    message.versions = await sync_to_async(tree.versions_of)(message)
    template = "chat/_message.html" if cancel else "chat/_message_edit.html"
    return await arender(
        request, template, {"message": message, "conversation": message.conversation}
    )


@require_POST
@alogin_required
async def message_switch(request: HtmxHttpRequest, message_id: UUID, *, user: User) -> HttpResponse:
    """Show this version (and the turns of its branch), kept on reload."""
    message = await selectors.amessage_for_user(user=user, message_id=message_id)
    try:
        conversation = await versions.aversion_switch(message=message)
    except services.SendError as exc:
        return await _send_error(request, message.conversation, user, "", exc)
    if not request.htmx:
        return _back_to(conversation.id, message.id)
    messages = await sync_to_async(_path)(conversation)
    response = await _branch(request, conversation, None, messages)
    shown = next((m.versions for m in messages if m.id == message.id), None)
    if shown is not None:
        # Said once, through #sr-status (static/js/spool.js, spool:said), after
        # the swap: a swap into #messages empties the regions first.
        said = {"text": f"Showing {shown.label.lower()}."}
        trigger_client_event(response, "spool:said", said, after="settle")
    return response
