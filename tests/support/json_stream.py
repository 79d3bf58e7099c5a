"""A program's client of the JSON stream (``/m/<id>/events``): httpx, the spec-following
SSE parser, or NDJSON lines; and the text rebuilt from the events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.sse_parser import SSEParser

NDJSON = "application/x-ndjson"


@dataclass(frozen=True, slots=True)
class JsonEvent:
    id: int | None
    event: str
    data: dict[str, Any]


class Text:
    """The answer as a program keeps it: ``snapshot`` replaces, ``delta`` appends."""

    def __init__(self) -> None:
        self.text = ""

    def apply(self, events: list[JsonEvent]) -> Text:
        for e in events:
            if e.event == "snapshot":
                self.text = e.data["text"]
            elif e.event == "delta":
                self.text += e.data["text"]
        return self


def iter_sse(response: httpx.Response) -> Iterator[JsonEvent]:
    parser = SSEParser()
    for chunk in response.iter_bytes():
        for e in parser.feed(chunk):
            eid = int(e.last_event_id) if e.id_set else None
            yield JsonEvent(eid, e.event, json.loads(e.data))


def iter_ndjson(response: httpx.Response) -> Iterator[JsonEvent]:
    for line in response.iter_lines():
        obj = json.loads(line)
        if obj["event"] == "ping":
            continue
        yield JsonEvent(obj["id"], obj["event"], obj["data"])


def open_events(
    http: httpx.Client,
    message_id: str,
    *,
    last_event_id: str | None = None,
    after: str | None = None,
    ndjson: bool = False,
) -> httpx.Response:
    """The streaming response (the caller closes it)."""
    headers = {"Accept": NDJSON if ndjson else "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    params = {} if after is None else {"after": after}
    request = http.build_request("GET", f"/m/{message_id}/events", headers=headers, params=params)
    return http.send(request, stream=True)


def read_events(
    http: httpx.Client,
    message_id: str,
    *,
    last_event_id: str | None = None,
    after: str | None = None,
    ndjson: bool = False,
    until: str | None = None,
) -> list[JsonEvent]:
    """Events until the server ends the stream, or until one named ``until`` arrived."""
    response = open_events(
        http, message_id, last_event_id=last_event_id, after=after, ndjson=ndjson
    )
    try:
        assert response.status_code == 200, response.status_code
        kind = response.headers["content-type"]
        assert kind.startswith(NDJSON if ndjson else "text/event-stream"), kind
        events: list[JsonEvent] = []
        for e in (iter_ndjson if ndjson else iter_sse)(response):
            events.append(e)
            if e.event == until:
                break
        return events
    finally:
        response.close()
