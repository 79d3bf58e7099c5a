"""Wire parsing for the serving bench's client: HTTP/1.1 responses, chunked
bodies, SSE events, and the bench words an event carries.

Pure and incremental: each parser is fed bytes as they arrive and returns what
became complete, so the client times an event by the read that completed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The numbered words of the demo model's [bench:N] answer ("w1 w2 …").
WORD_RE = re.compile(rb"\bw(\d+)\b")
# Spool's events that repeat or describe words already shown rather than show new
# ones: screen-reader text, status lines, the closing footer.
NON_WORD_EVENTS = frozenset({"announce", "status", "alert", "done"})


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    cookies: dict[str, str]  # from every Set-Cookie

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None else None

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


def parse_head(raw: bytes) -> ResponseHead:
    """The status line and headers, up to (and without) the blank line."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {lines[0]!r}")
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = value
        if name == "set-cookie":
            cookie_name, _, rest = value.partition("=")
            cookies[cookie_name.strip()] = rest.split(";", 1)[0]
    return ResponseHead(int(parts[1]), headers, cookies)


class ChunkedDecoder:
    """``Transfer-Encoding: chunked`` decoding, fed any slicing of the body."""

    def __init__(self) -> None:
        self._buffer = b""
        self._remaining = 0  # bytes of the current chunk's data still to come
        self._crlf = 0  # bytes of the CRLF after a chunk's data still to skip
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes ``data`` completes; ``finished`` once the last chunk is read."""
        buffer = self._buffer + data
        out: list[bytes] = []
        pos = 0
        while pos < len(buffer) and not self.finished:
            if self._remaining:
                take = buffer[pos : pos + self._remaining]
                out.append(take)
                self._remaining -= len(take)
                pos += len(take)
                if not self._remaining:
                    self._crlf = 2
            elif self._crlf:
                skip = min(self._crlf, len(buffer) - pos)
                self._crlf -= skip
                pos += skip
            else:
                end = buffer.find(b"\r\n", pos)
                if end < 0:
                    break
                size = int(buffer[pos:end].split(b";", 1)[0], 16)
                pos = end + 2
                if size == 0:
                    # Trailers are not used by any server here; the body is over.
                    self.finished = True
                else:
                    self._remaining = size
        self._buffer = buffer[pos:]
        return b"".join(out)


@dataclass(slots=True)
class SseEvent:
    event: str  # "message" when the event has no name
    data: bytes  # the data lines joined with b"\n"


@dataclass(slots=True)
class SseParser:
    """Splits a text/event-stream into the events a browser would dispatch
    (those with data); comments and ``retry``/``id``-only blocks are dropped
    but, as in EventSource, ``last_id`` and ``retry_ms`` keep what they said
    (for a reconnect's ``Last-Event-ID`` and its delay)."""

    last_id: str = ""
    retry_ms: int | None = None
    _buffer: bytes = field(default=b"")

    def feed(self, data: bytes) -> list[SseEvent]:
        buffer = self._buffer + data
        if b"\r" in buffer:
            # CRLF (sse-starlette) or CR line ends; a CR at the very end may be
            # half of a CRLF, so it waits for the next read.
            keep_cr = buffer.endswith(b"\r")
            buffer = buffer[:-1] if keep_cr else buffer
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            buffer += b"\r" if keep_cr else b""
        events: list[SseEvent] = []
        start = 0
        while (end := buffer.find(b"\n\n", start)) >= 0:
            event = self._parse_block(buffer[start:end])
            if event is not None:
                events.append(event)
            start = end + 2
        self._buffer = buffer[start:]
        return events

    def reconnected(self) -> None:
        """A new connection: a half-received event is gone, the id and retry stay."""
        self._buffer = b""

    def _parse_block(self, block: bytes) -> SseEvent | None:
        name = "message"
        data: list[bytes] = []
        for line in block.split(b"\n"):
            field_name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field_name == b"data":
                data.append(value)
            elif field_name == b"event":
                name = value.decode()
            elif field_name == b"id":
                self.last_id = value.decode()
            elif field_name == b"retry" and value.isdigit():
                self.retry_ms = int(value)
        return SseEvent(name, b"\n".join(data)) if data else None


def words_in(event: SseEvent) -> list[int]:
    """The bench word numbers an event shows (none for Spool's non-word events)."""
    if event.event in NON_WORD_EVENTS:
        return []
    return [int(n) for n in WORD_RE.findall(event.data)]
