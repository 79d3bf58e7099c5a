"""Helpers shared by the async views."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

AsyncView = Callable[..., Coroutine[Any, Any, HttpResponse]]


class HtmxHttpRequest(HttpRequest):
    """What HtmxMiddleware adds, for the type checker."""

    htmx: HtmxDetails


async def arender(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """Render in a worker thread: templates may touch the lazy ``request.user``
    and other sync-only ORM attributes."""
    return await sync_to_async(render)(request, template, context, status=status)


def alogin_required(view: AsyncView) -> AsyncView:
    """``login_required`` for async views; the user is passed as ``user``."""

    @wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = await request.auser()
        if not isinstance(user, User) or not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return await view(request, *args, user=user, **kwargs)

    return wrapper
