"""Server-Sent Events framing (the wire format, nothing about what is sent).

Contract: ``frame`` returns one complete SSE message, ready to write; data with
newlines is split into several ``data:`` lines, which the browser joins back
with ``\\n``. Comments (``: ...``) keep proxies from closing idle streams.
"""

from __future__ import annotations

# Browsers reconnect after a cut with Last-Event-ID; 1 s is quick without storms.
RETRY_MS = 1000
# Proxies (nginx: proxy_read_timeout 60 s) drop silent connections; 15 s is well inside.
HEARTBEAT_S = 15.0

HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    # nginx buffers the whole stream without this (see deploy/nginx.conf).
    "X-Accel-Buffering": "no",
}
CONTENT_TYPE = "text/event-stream; charset=utf-8"


def frame(data: str, *, event: str | None = None, id: int | str | None = None) -> bytes:
    parts: list[str] = []
    if id is not None:
        parts.append(f"id: {id}\n")
    if event is not None:
        parts.append(f"event: {event}\n")
    # splitlines() would also split on \r, \x0b, \u2028…; SSE only knows \r, \n, \r\n.
    for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode()


def retry(ms: int = RETRY_MS) -> bytes:
    return f"retry: {ms}\n\n".encode()


def comment(text: str = "ping") -> bytes:
    return f": {text}\n\n".encode()


def parse_last_event_id(value: str | None) -> int | None:
    """Offsets are non-negative integers in ASCII digits; anything else means
    'no usable id'. (``str.isdigit`` alone accepts "²", which ``int`` refuses.)
    How large the number is, is the caller's business: it knows the log."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None
