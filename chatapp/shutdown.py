"""Graceful shutdown: what a SIGTERM (or SIGINT) to the server does to Spool.

``stop_spool`` refuses new runs at once (a send gets a 503 with the reason),
lets live runs finish for up to ``SPOOL_SHUTDOWN_GRACE_S`` seconds, then
cancels the rest, which save their text as ``interrupted``; it returns once
every save and the stream accounting are written and the model server's
pooled connections are closed (docs/operations.md).

How it is reached depends on the server, and ``with_shutdown`` wires both:

- **daphne** has no ASGI lifespan. Its Twisted reactor turns SIGTERM/SIGINT
  into ``reactor.stop()``, which runs the "before shutdown" triggers and waits
  for the Deferreds they return before it stops listening (the "during"
  phase) and exits. ``stop_spool`` is such a trigger, so the port still
  answers during the grace (new sends get the 503, pages still load). Daphne's
  own trigger cancels every open request at the same moment: pages lose their
  streams and reconnect elsewhere (or, on reload, see the saved answer).
- **uvicorn** sends ``lifespan.shutdown`` after it has stopped listening and
  its open connections have ended (or ``--timeout-graceful-shutdown`` passed).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from chatapp.runtime import aclose_providers, built_manager
from chatapp.stream_accounting import accounting

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Django's handler types receive and send as Any.
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


async def stop_spool() -> None:
    """Stop this process's runs (see the module docstring) and write what is pending."""
    grace_s = settings.SPOOL_SHUTDOWN_GRACE_S
    manager = built_manager()
    try:
        if manager is not None:
            logger.info("shutdown: runs have %.1f s to finish", grace_s)
            await manager.shutdown(grace_s)
    finally:
        await aclose_providers()
        await accounting.aclose()
    logger.info("shutdown: every run saved")


def with_shutdown(application: ASGIApp) -> ASGIApp:
    """``application`` with ``stop_spool`` wired to whichever server loads it."""
    if "daphne.server" in sys.modules:
        _install_reactor_trigger()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        else:
            await application(scope, receive, send)

    return app


def _install_reactor_trigger() -> None:
    # Only once daphne.server is imported (daphne's CLI, and daphne's app
    # config, so under uvicorn too): it installs the asyncio reactor, and
    # importing the reactor before it would install another one. Under
    # uvicorn the reactor never runs, so the trigger never fires there.
    from twisted.internet import defer, reactor

    def before_shutdown() -> defer.Deferred[None]:
        # A fresh context: the shutdown belongs to no request.
        task = asyncio.get_running_loop().create_task(
            _logged_stop(), name="spool-shutdown", context=contextvars.Context()
        )
        return defer.Deferred.fromFuture(task)

    # The zope interface declares the method without ``self``: mypy shifts the arguments.
    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[arg-type]


async def _logged_stop() -> None:
    # Daphne discards Twisted's log (verbosity 1), where a failed trigger's
    # traceback would go: log it here, and let the reactor go on stopping.
    try:
        await stop_spool()
    except Exception:
        logger.exception("shutdown failed")


async def _lifespan(receive: Receive, send: Send) -> None:
    """The ASGI lifespan protocol (uvicorn, hypercorn); Django's handler has none."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await stop_spool()
            except Exception as exc:
                logger.exception("shutdown failed")
                await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
            else:
                await send({"type": "lifespan.shutdown.complete"})
            return
