"""Backpressure for streamed responses under daphne: ``send`` waits for the socket.

Under daphne an ASGI ``send`` of a body chunk never waits: daphne hands the
bytes to Twisted's ``transport.write``, which keeps whatever the socket does
not take in a buffer of its own, without limit. A client that stops reading
(a phone in a tunnel, a stalled proxy) then costs the server every byte the
stream goes on producing, and its stream never learns that it is behind.
(uvicorn's ``send`` already waits while its transport is paused.)

``flow_controlled(app)`` wraps an ASGI app so that, under daphne, a response
that has more to send registers itself with Twisted as a streaming producer
of the request: Twisted pauses it when the connection's buffer passes its
high-water mark (64 KiB) and resumes it once the socket drained, and until
then the next body ``send`` waits. An event stream's kernel send buffer is
fixed at ``SEND_BUFFER_BYTES`` too (Linux would grow it to megabytes). A
stream's generator is therefore held at its ``yield`` while its client does
not read, and what it did not send stays in the event log rather than in the
server's memory. When the client reads
again, the subscriber finds itself behind and skips ahead
(``chatapp/views/stream.py``).

Anything that is not daphne's ``send`` (uvicorn, tests) passes through
unchanged. The hook is daphne's own: its ``send`` is
``functools.partial(server.handle_reply, protocol)`` with the Twisted request
as ``protocol``; a daphne that changed this would simply get no backpressure
(and a warning, once).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

# The kernel's send buffer of a streaming connection. Linux grows a socket's
# buffer up to net.ipv4.tcp_wmem's maximum (4 MiB) when the client does not
# read: measured, a client that stopped reading for 30 s left 115 KiB in the
# kernel and the rest (~200 KiB of a 4,000-token answer) in Twisted. An SSE
# stream sends a few KB/s, so a fixed buffer (Linux doubles the value given)
# never slows a reading client and bounds what a stalled one holds. Only
# event streams: a large download needs the grown buffer on a slow link.
SEND_BUFFER_BYTES = 32 * 1024

_warned = False


class _Producer:
    """The response as Twisted sees it: an ``IPushProducer`` it may pause.

    Twisted calls these on the event loop's thread (daphne runs Twisted on
    the asyncio reactor), so an ``asyncio.Event`` is safe to set here.
    """

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.pauses = 0

    def pauseProducing(self) -> None:
        self.pauses += 1
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        # The connection is going away: let a waiting send through (daphne
        # drops writes to a closed connection; the app hears http.disconnect).
        self.writable.set()


class _FlowControlledSend:
    """Daphne's ``send`` for one response, waiting while Twisted says "full"."""

    def __init__(self, send: Send, request: Any) -> None:
        self._send = send
        self._request = request
        self._producer: _Producer | None = None
        self._event_stream = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._event_stream = any(
                name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                for name, value in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            if message.get("more_body", False):
                if self._producer is None:
                    self._producer = self._register()
                await self._producer.writable.wait()
            else:
                # The last body message finishes the request: the producer
                # must be gone before (the connection may serve another request).
                self.release()
        await self._send(message)

    def _register(self) -> _Producer:
        producer = _Producer()
        channel = getattr(self._request, "channel", None)
        if channel is None:
            return producer  # the connection is gone: daphne drops the writes
        handle = channel.transport.getHandle()
        if self._event_stream and isinstance(handle, socket.socket):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self._request.registerProducer(producer, True)
        return producer

    def release(self) -> None:
        if self._producer is not None:
            self._producer = None
            request = self._request
            if getattr(request, "channel", None) is not None and request.producer is not None:
                request.unregisterProducer()


def _daphne_request(send: Send) -> Any | None:
    """The Twisted request behind daphne's ``send``, or None for any other server."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    owner = getattr(send.func, "__self__", None)
    if type(owner).__module__ != "daphne.server":
        return None
    request = send.args[0]
    if not callable(getattr(request, "registerProducer", None)):
        global _warned
        if not _warned:
            _warned = True
            logger.warning("daphne's send has changed shape: streams get no backpressure")
        return None
    return request


def flow_controlled(app: ASGIApp) -> ASGIApp:
    """``app`` whose HTTP responses wait for the client's socket under daphne."""

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        request = _daphne_request(send) if scope["type"] == "http" else None
        if request is None:
            await app(scope, receive, send)
            return
        controlled = _FlowControlledSend(send, request)
        try:
            await app(scope, receive, controlled)
        finally:
            controlled.release()

    return wrapped
