"""The per-user limit on live answers, through a real daphne and the fake model
server: a send past it is refused with what to do (text kept), and crash
leftovers (live rows whose run is gone) never count against it
(chatapp/live.py, ``asend``)."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import FAKE_MODEL
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient
from tests.support.daphne import DaphneServer

LIMIT = 2  # SPOOL_MAX_CONCURRENT_RUNS of the session's server (the default)
REFUSED = f"You already have {LIMIT} answers being written."


def slow_answer(fake_llm: FakeOpenAIServer) -> str:
    """A prompt the fake server answers over ~5 s."""
    key = f"[slow-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.text("tick " * 100, chunk_size=5, delay=0.25))
    return key


def composer_text(page: str) -> str:
    m = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S)
    assert m, "no composer on the page"
    return html.unescape(m.group(1)).strip()


def stop(client: SpoolClient, message_id: str) -> None:
    r = client.post(f"/m/{message_id}/stop", headers={"HX-Request": "true"})
    assert r.status_code in {200, 204}, r.text[:300]


def leftover_of(server: DaphneServer, message_id: str) -> str:
    """A copy of the answer ``message_id``, left ``streaming`` a minute ago by a
    crash: no run (no event log) owns it. Returns its id."""
    columns = [row["name"] for row in server.query("PRAGMA table_info(chatapp_message)")]
    copied = ", ".join(c for c in columns if c not in {"id", "status", "checkpoint_at"})
    new_id = uuid.uuid4()
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    server.query(
        f"INSERT INTO chatapp_message (id, status, checkpoint_at, {copied})"
        f" SELECT ?, 'streaming', ?, {copied} FROM chatapp_message WHERE id = ?",
        (new_id.hex, a_minute_ago, message_id.replace("-", "")),
    )
    return str(new_id)


def test_a_send_past_the_limit_is_refused_and_keeps_the_text(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    running = [
        client.start_conversation(slow_answer(fake_llm), model=FAKE_MODEL)[1] for _ in range(LIMIT)
    ]
    for message_id in running:
        assert spool_server.message(message_id)["status"] in {"pending", "streaming"}
    text = "A third question, kept when refused"
    r = client.post("/c/new", {"text": text, "model": FAKE_MODEL})
    assert r.status_code == 422
    assert REFUSED in html.unescape(r.text)
    assert composer_text(r.text) == text
    # One stopped: the next send goes through.
    stop(client, running[0])
    _, answer = client.start_conversation(text, model=FAKE_MODEL)
    assert spool_server.message(answer)["status"] != "failed"
    stop(client, running[1])


def test_crash_leftovers_do_not_count_against_the_limit(
    client: SpoolClient, spool_server: DaphneServer
) -> None:
    path, first = client.start_conversation("A first question")
    spool_server.wait_status(first, "complete")
    leftovers = [leftover_of(spool_server, first) for _ in range(LIMIT)]
    # Refused for the leftovers' sake before; now they are marked, then it goes.
    r = client.send(path, "A new question")
    assert r.status_code == 200, r.text[:300]
    for message_id in leftovers:
        row = spool_server.message(message_id)
        assert (row["status"], row["error_code"]) == ("interrupted", "interrupted")
