"""An SSE parser that follows the spec's "interpreting an event stream", fed raw bytes.

It gets bytes as they arrive, cut anywhere (mid-line, mid-character), and
dispatches an event only at the blank line that ends it: an event cut off
before its end is never seen, as in a browser. ``last_event_id`` is the
EventSource's: an ``id:`` field (an empty one clears it, one with NUL is
ignored) fills a buffer that becomes the stream's last event id at the blank
line ending its block, and it is kept across events, so a reconnect sends
what the browser would (never the id of an event cut off mid-way).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: str
    last_event_id: str  # the stream's last event id when this one was dispatched
    id_set: bool  # this event's own block had an ``id:`` field


class SSEParser:
    def __init__(self, last_event_id: str = "") -> None:
        """``last_event_id``: what the EventSource held before this connection
        (it keeps it across reconnects until the server sends another)."""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._first = True
        self._pending_cr = False
        self.last_event_id = last_event_id
        self._id_buffer = last_event_id
        self.retry_ms: int | None = None
        self.comments = 0
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id_set = False

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._decoder.decode(chunk)
        if self._first and text:
            text = text.removeprefix("\ufeff")
            self._first = False
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the "\n" of a "\r\n" split across chunks
        self._pending_cr = text.endswith("\r")
        self._buffer += text
        events: list[Event] = []
        while True:
            ends = [i for i in (self._buffer.find("\r"), self._buffer.find("\n")) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = self._buffer[:end]
            skip = 2 if self._buffer.startswith("\r\n", end) else 1
            self._buffer = self._buffer[end + skip :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id_buffer = value
            self._id_set = True
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        self.last_event_id = self._id_buffer
        if not self._data:
            self._reset()
            return None
        data = "\n".join(self._data)
        event = Event(self._event or "message", data, self.last_event_id, self._id_set)
        self._reset()
        return event
