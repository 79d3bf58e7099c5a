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
from django_htmx.middleware import HtmxDetails

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
