"""Django's ASGI handler with the requests' sync work on a fixed set of threads.

Django's ``ASGIHandler`` runs each request in a fresh ``ThreadSensitiveContext``:
the request's first ``sync_to_async`` call creates a thread, and the request's
end joins it. Under a burst of sends that was the event loop's largest cost:
``Thread.start`` blocks the loop until the new thread runs, which on a busy
2-core machine took milliseconds per request
(docs/performance.md, Serving path). The thread's database connection died
with it, so every request also connected again, whatever ``CONN_MAX_AGE``
said.

``SpoolASGIHandler`` gives every request the same executor instead
(``ThreadSensitiveContext(executor=...)``, asgiref's own way to choose it): a
pool of ``SPOOL_REQUEST_THREADS`` long-lived threads. A request's sync calls
may therefore run on different threads of the pool, one call at a time; no
Spool request needs more (each makes one database hop, and an async view
cannot hold a transaction across hops anyway).

Connections: a pool thread keeps its connections from one call to the next,
so ``CONN_MAX_AGE`` means what it says. Django's per-request housekeeping
(``close_old_connections`` on ``request_started`` and ``request_finished``)
would run on whichever pool thread is free, not the one whose connection it
should look after, and cost a thread hop each; it is disconnected while this
handler serves, and each pool call does the same housekeeping on its own
thread, before and after it runs: obsolete or broken connections are closed
(``CONN_MAX_AGE=0`` still closes after every call).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections

THREAD_NAME_PREFIX = "spool-request"


class RequestThreads(ThreadPoolExecutor):
    """A thread pool whose calls look after their thread's database connections."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=THREAD_NAME_PREFIX)

    def submit[**P, T](self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return super().submit(_with_connections, functools.partial(fn, *args, **kwargs))


def _with_connections[T](call: Callable[[], T]) -> T:
    # Django's request_started / request_finished rule, on the thread that
    # uses the connections: drop broken or expired ones, before and after.
    close_old_connections()
    try:
        return call()
    finally:
        close_old_connections()


class SpoolASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        self.threads = RequestThreads(threads)
        # The pool's calls do this housekeeping themselves (module docstring).
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            # As Django's own handler: only HTTP (no WebSocket routing here).
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with ThreadSensitiveContext(executor=self.threads):
            await self.handle(scope, receive, send)
