"""Static files from the app itself, through WhiteNoise, without a thread hop per request.

WhiteNoise's own Django middleware is synchronous: under ASGI, Django would
run it (and adapt everything below it) through a thread for every request,
answer streams included. This middleware keeps WhiteNoise's file index,
headers and content negotiation (gzip/brotli copies, ``immutable`` caching of
hashed names, ETag/304, ranges) and is natively async: a request outside
``STATIC_URL`` goes straight on, and a static file is read in a worker thread.

Contract: with ``SPOOL_SERVE_STATIC`` off (a web server serves ``/static/``)
the middleware removes itself (``MiddlewareNotUsed``). The files served are
the app's own small CSS/JS and the admin's: each response is read whole.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

GetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]
SyncGetResponse = Callable[[HttpRequest], HttpResponseBase]


class StaticFilesMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | SyncGetResponse) -> None:
        if not settings.SPOOL_SERVE_STATIC:
            raise MiddlewareNotUsed("SPOOL_SERVE_STATIC is off: a web server serves /static/.")
        self.get_response = get_response
        with warnings.catch_warnings():
            if settings.WHITENOISE_USE_FINDERS:
                # Files come from static/ through the finders; an empty or
                # missing STATIC_ROOT (no collectstatic yet) is expected then.
                warnings.filterwarnings("ignore", message="No directory at")
            # WhiteNoise's middleware is used as the file index only, never called.
            self.whitenoise = WhiteNoiseMiddleware(get_response=None)
        self.prefix: str = self.whitenoise.static_prefix
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        static_file = self._find(request.path_info)
        if static_file is None:
            return self.get_response(request)
        return self._serve(static_file, request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        get_response: GetResponse = self.get_response  # type: ignore[assignment]
        if not request.path_info.startswith(self.prefix):
            return await get_response(request)
        if self.whitenoise.autorefresh:
            # Autorefresh looks for the file on disk on every request.
            static_file = await sync_to_async(self._find, thread_sensitive=False)(request.path_info)
        else:
            static_file = self._find(request.path_info)
        if static_file is None:
            return await get_response(request)
        return await sync_to_async(self._serve, thread_sensitive=False)(static_file, request)

    def _find(self, path: str) -> Any:
        if not path.startswith(self.prefix):
            return None
        if self.whitenoise.autorefresh:
            return self.whitenoise.find_file(path)
        return self.whitenoise.files.get(path)

    @staticmethod
    def _serve(static_file: Any, request: HttpRequest) -> HttpResponse:
        """WhiteNoise's response, read whole into a plain response (a file
        response would be read through a thread by Django's ASGI handler anyway,
        with a warning per file)."""
        found = static_file.get_response(request.method, request.META)
        body = b""
        if found.file is not None:
            with found.file as file:
                body = file.read()
        response = HttpResponse(body, status=int(found.status))
        del response["Content-Type"]  # WhiteNoise sends its own
        for name, value in found.headers:
            response[name] = value
        return response
