"""Django's built-in middleware, run on the event loop instead of through threads.

Under ASGI, ``MiddlewareMixin`` runs every ``process_request`` and
``process_response`` through ``sync_to_async``: two thread hops per class per
request, answer streams included (eight classes: sixteen hops before a stream
sends its first byte; docs/architecture.md, Stack facts). These subclasses keep
Django's own logic and call it inline, because those hooks do no I/O: they
read headers and cookies and set attributes.

Two hooks can reach the database, and only they still hop, and only when they
will: saving a modified session, and storing messages that were read or
added (message storage may load the session). ``CsrfViewMiddleware.process_view``
reads the form the request already carries in memory.

In sync mode (WSGI, Django's test client) the classes behave exactly like
Django's.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csp, csrf, security
from django.utils.deprecation import MiddlewareMixin


class OnTheLoop(MiddlewareMixin):
    """Calls the hooks directly in async mode; ``needs_thread`` names the exceptions."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        process_request = getattr(self, "process_request", None)
        response = process_request(request) if process_request is not None else None
        response = response or await self.get_response(request)  # type: ignore[misc]
        process_response = getattr(self, "process_response", None)
        if process_response is None:
            return response  # type: ignore[no-any-return]
        if self.needs_thread(request, response):
            return await sync_to_async(process_response)(request, response)  # type: ignore[no-any-return]
        return process_response(request, response)  # type: ignore[no-any-return]

    def needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """Whether ``process_response`` will do I/O for this request."""
        return False


class SecurityMiddleware(OnTheLoop, security.SecurityMiddleware):
    pass


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    def needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        # Accessing a session loads it in the view's own thread; only a save
        # (modified, or saved on every request) writes to the session store.
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(OnTheLoop, csrf.CsrfViewMiddleware):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django adapts a sync process_view with a thread hop; a coroutine
            # function is awaited as it is.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    async def _aprocess_view(
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> HttpResponseBase | None:
        return csrf.CsrfViewMiddleware.process_view(
            self, request, callback, callback_args, callback_kwargs
        )


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    """Sets the lazy ``request.user`` / ``request.auser``; nothing is loaded here."""


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    def needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class XFrameOptionsMiddleware(OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    pass


class ContentSecurityPolicyMiddleware(OnTheLoop, csp.ContentSecurityPolicyMiddleware):
    pass
