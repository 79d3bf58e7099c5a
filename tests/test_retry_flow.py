"""Retry after a provider error, through a real daphne and the fake model server.

What the model server said decides what Retry offers: 429 + Retry-After keeps
Retry disabled (and refused by the server) until the time; 401 offers no Retry
and says who can fix it; 500 offers a Retry that works.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import FAKE_MODEL
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient, live_message_id
from tests.support.daphne import DaphneServer

CONFIG_TEXT = "An administrator needs to fix the model's configuration."


def keyword(prefix: str) -> str:
    """A prompt marker no other test uses (the fake server's rules live all session)."""
    return f"[{prefix}-{uuid.uuid4().hex[:8]}]"


def stored_time(value: str) -> datetime:
    """A DateTimeField as SQLite stores it: UTC text."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def answer_html(page_html: str, message_id: str) -> str:
    m = re.search(rf'<article id="m-{message_id}".*?</article>', page_html, re.S)
    assert m, f"no answer {message_id} on the page"
    return m.group(0)


def retry_button(html: str) -> str | None:
    m = re.search(r'<form[^>]*action="/m/[^"]+/retry"[^>]*>.*?(<button.*?</button>)', html, re.S)
    return m.group(1) if m else None


def answer_count(server: DaphneServer, message_id: str) -> int:
    conversation = server.message(message_id)["conversation_id"]
    rows = server.query(
        "SELECT COUNT(*) AS n FROM chatapp_message WHERE conversation_id = ? AND role = ?",
        (conversation, "assistant"),
    )
    return int(rows[0]["n"])


def test_rate_limit_with_retry_after_disables_retry_until_the_time(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("429")
    fake_llm.when(
        key,
        Script.http_error(
            429, "Rate limit reached", type="requests", code="rate_limit_exceeded",
            headers={"retry-after": "30"},
        ),
    )  # fmt: skip
    before = datetime.now(UTC)
    page, mid = client.start_conversation(f"{key} hi", model=FAKE_MODEL)
    row = spool_server.wait_status(mid, "failed")
    after = datetime.now(UTC)

    assert row["error_code"] == "rate_limit"
    assert row["error_retryable"]
    retry_at = stored_time(row["retry_after_at"])
    assert before + timedelta(seconds=29) <= retry_at <= after + timedelta(seconds=31)

    # The live page gets the footer in the stream's `done` frame; a reload renders it.
    done = client.stream_events(mid)[-1]
    assert done.event == "done"
    for html in (done.data, answer_html(client.http.get(page).text, mid)):
        button = retry_button(html)
        assert button is not None, html
        assert " disabled" in button
        m = re.search(r"Retry in (\d+) s", button)
        assert m, button
        assert 20 <= int(m.group(1)) <= 30

    # Retrying before the time is refused with the time left; no answer is created.
    answers = answer_count(spool_server, mid)
    requests = len(fake_llm.chat_requests)
    r = client.post(f"/m/{mid}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert re.search(r"The model asked to wait: Retry in \d+ s\.", r.text), r.text
    plain = client.post(f"/m/{mid}/retry")  # without htmx: the page, with the reason
    assert plain.status_code == 422
    assert "The model asked to wait" in plain.text
    assert answer_count(spool_server, mid) == answers
    assert len(fake_llm.chat_requests) == requests


def test_bad_key_offers_no_retry_and_says_who_can_fix_it(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("401")
    fake_llm.when(key, Script.http_error(401, "Incorrect API key", code="invalid_api_key"))
    page, mid = client.start_conversation(f"{key} hi", model=FAKE_MODEL)
    row = spool_server.wait_status(mid, "failed")

    assert row["error_code"] == "auth"
    assert not row["error_retryable"]
    assert row["retry_after_at"] is None
    done = client.stream_events(mid)[-1]
    for html in (done.data, answer_html(client.http.get(page).text, mid)):
        assert retry_button(html) is None, html
        assert "Retry" not in re.sub(r"<[^>]+>", "", html)
        assert CONFIG_TEXT in html.replace("&#x27;", "'")

    answers = answer_count(spool_server, mid)
    r = client.post(f"/m/{mid}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert CONFIG_TEXT in r.text.replace("&#x27;", "'")
    assert answer_count(spool_server, mid) == answers


def test_server_error_offers_a_retry_that_works(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("500")
    fake_llm.when(
        key, Script.http_error(500, "The server had an error", type="server_error"), times=1
    )
    page, mid = client.start_conversation(f"{key} hi", model=FAKE_MODEL)
    row = spool_server.wait_status(mid, "failed")

    assert row["error_code"] == "upstream_down"
    assert row["error_retryable"]
    assert row["retry_after_at"] is None
    button = retry_button(answer_html(client.http.get(page).text, mid))
    assert button is not None
    assert " disabled" not in button
    assert re.search(r">\s*Retry\s*<", button), button

    r = client.post(f"/m/{mid}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    new_id = live_message_id(r.text)
    assert new_id != mid
    events = client.stream_events(new_id)
    assert events[-1].event == "done"
    assert "fake model" in spool_server.wait_status(new_id, "complete")["html"]
