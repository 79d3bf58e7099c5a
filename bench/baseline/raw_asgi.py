"""The floor: the bench stream as a bare ASGI app, no framework at all.

``GET /stream?n=N&delay=D`` streams N numbered words as SSE on the schedule of
``bench.baseline.schedule`` and ends with a ``done`` event; anything else is a
404. Serve it with ``uvicorn bench.baseline.raw_asgi:app`` or ``daphne
bench.baseline.raw_asgi:app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from bench.baseline.schedule import DONE, frames, sse_data

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DEFAULT_WORDS = 100
DEFAULT_DELAY_S = 0.025
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] != "/stream" or scope["method"] != "GET":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
        return
    query = parse_qs(scope["query_string"].decode())
    try:
        count = int(query.get("n", [DEFAULT_WORDS])[0])
        delay = float(query.get("delay", [DEFAULT_DELAY_S])[0])
    except ValueError:
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"bad n or delay"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    async for text in frames(count, delay):
        await send({"type": "http.response.body", "body": sse_data(text), "more_body": True})
    await send({"type": "http.response.body", "body": DONE})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
