"""A real HTTP client for Spool: accounts, forms with CSRF, and an SSE reader."""

from __future__ import annotations

import re
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

# Shares almost no character with the tests' user names ("browser-cont-ca6eea"):
# Django's similarity check refused the earlier password for some random
# names ("too similar to the username"), a sign-up that failed by chance.
PASSWORD = "Kq7!Zy3@Wm5#Jx"


@dataclass
class SSEEvent:
    event: str
    data: str
    id: str | None
    at: float = field(default_factory=time.monotonic)


def iter_sse(response: httpx.Response) -> Iterator[SSEEvent | str]:
    """Parse an SSE response; yields events, and comments as plain strings."""
    event, eid = "message", None
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield SSEEvent(event, "\n".join(data), eid)
            event, data, eid = "message", [], None
        elif line.startswith(":"):
            yield line[1:].strip()
        elif line.startswith("retry:"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                eid = value


def count(kind: str, n: int) -> Callable[[list[SSEEvent]], bool]:
    """A ``stream_until`` condition: ``n`` events of ``kind`` have arrived."""
    return lambda events: sum(e.event == kind for e in events) >= n


class SpoolClient:
    def __init__(self, base_url: str, *, verify: ssl.SSLContext | bool = True) -> None:
        # Over HTTPS Django's CSRF check wants the Origin (or Referer) a browser sends.
        headers = {"Origin": base_url} if base_url.startswith("https:") else {}
        self.http = httpx.Client(
            base_url=base_url, follow_redirects=True, timeout=30, verify=verify, headers=headers
        )
        self.username = ""

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SpoolClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def csrf(self) -> str:
        if "csrftoken" not in self.http.cookies:
            self.http.get("/accounts/login/")
        return self.http.cookies["csrftoken"]

    def post(self, url: str, data: dict[str, str] | None = None, **kw: object) -> httpx.Response:
        return self.http.post(url, data={"csrfmiddlewaretoken": self.csrf(), **(data or {})}, **kw)  # type: ignore[arg-type]

    def signup(self, username: str | None = None) -> SpoolClient:
        self.username = username or f"u{uuid.uuid4().hex[:10]}"
        r = self.post(
            "/accounts/signup/",
            {"username": self.username, "password1": PASSWORD, "password2": PASSWORD},
        )
        assert r.status_code == 200, r.text[:300]
        assert r.url.path == "/", r.url
        return self

    def start_conversation(self, text: str, model: str = "demo") -> tuple[str, str]:
        """Returns (conversation page path, the answer's message id).

        The answer may already be finished (or failed) when the page renders.
        """
        r = self.post("/c/new", {"text": text, "model": model})
        assert r.status_code == 200, r.text[:500]
        return r.url.path, last_answer_id(r.text)

    def send(self, conversation_path: str, text: str) -> httpx.Response:
        return self.post(
            f"{conversation_path}messages", {"text": text}, headers={"HX-Request": "true"}
        )

    def stream(self, message_id: str, last_event_id: str | None = None) -> Iterator[SSEEvent | str]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        with self.http.stream("GET", f"/m/{message_id}/stream", headers=headers) as r:
            assert r.status_code == 200, r.status_code
            assert r.headers["content-type"].startswith("text/event-stream")
            yield from iter_sse(r)

    def stream_until(
        self,
        message_id: str,
        done: Callable[[list[SSEEvent]], bool],
        last_event_id: str | None = None,
    ) -> list[SSEEvent]:
        """Events until ``done(events so far)`` holds; then the connection is dropped."""
        events: list[SSEEvent] = []
        for item in self.stream(message_id, last_event_id):
            if isinstance(item, SSEEvent):
                events.append(item)
                if done(events):
                    break
        return events

    def stream_events(self, message_id: str, last_event_id: str | None = None) -> list[SSEEvent]:
        """The whole stream until the server ends it (after ``done``)."""
        return [e for e in self.stream(message_id, last_event_id) if isinstance(e, SSEEvent)]


def last_answer_id(html: str) -> str:
    ids = re.findall(r'<article id="m-([0-9a-f-]+)" class="msg msg-assistant', html)
    assert ids, "no answer on the page"
    return str(ids[-1])


def live_message_id(html: str) -> str:
    m = re.search(r'sse-connect="/m/([0-9a-f-]+)/stream(?:\?[^"]*)?"', html)
    assert m, "no live message on the page"
    return m.group(1)
