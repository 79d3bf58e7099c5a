"""Helpers shared by the async views."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from chatapp.models import Message
from chatapp.status_text import status_text

AsyncView = Callable[..., Coroutine[Any, Any, HttpResponseBase]]


class HtmxHttpRequest(HttpRequest):
    """What HtmxMiddleware adds, for the type checker."""

    htmx: HtmxDetails


async def arender(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """Render in a worker thread: templates may touch the lazy ``request.user``
    and other sync-only ORM attributes."""
    return await sync_to_async(render)(request, template, context, status=status)


def request_user(request: HttpRequest) -> User | None:
    """The signed-in user, or None: session and user are loaded in one go.

    Called in a worker thread, it costs one hop where ``await request.auser()``
    costs two (the session, then the user), and it fills ``request.user``'s
    cache, so templates rendered later in a thread read the user for free.
    """
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def alogin_required(view: AsyncView) -> AsyncView:
    """``login_required`` for async views; the user is passed as ``user``."""

    @wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = await sync_to_async(request_user)(request)
        if user is None:
            return redirect_to_login(request.get_full_path())
        return await view(request, *args, user=user, **kwargs)

    return wrapper


def live_or_none(answer: Message) -> Message | None:
    """The new answer, for the composer's Stop and the stream, unless it is
    over already: it failed to start (``services.committed_then_run``) and is
    shown finished, failed in place."""
    return answer if answer.is_live else None


def said_if_failed(response: HttpResponse, answer: Message) -> HttpResponse:
    """An answer that failed to start has no stream to say so: the response
    does, once the swap has settled (after #messages' regions are emptied),
    as a stream's end would: "Answer failed." (static/js/spool.js,
    ``spool:said``), then why (``spool:alert``)."""
    if answer.status == Message.Status.FAILED:
        said = {"text": status_text(answer.status)}
        trigger_client_event(response, "spool:said", said, after="settle")
        why = {"text": answer.error_message}
        trigger_client_event(response, "spool:alert", why, after="settle")
    return response
