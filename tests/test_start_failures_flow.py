"""An answer that cannot start once its rows are written, through a real
daphne and the fake model server (chatapp/services.py, ``committed_then_run``).

The failure here is a real one: the stored file of an image the model must
be shown has become unreadable (a directory in its place: not the missing
file, which the prompt tells the model about, but an error reading it).
The request must not end in a 500 leaving a pending answer with no run,
which counts as a live answer and refuses the next send: the answer is
saved ``failed`` in place, with what happened, and the next send goes
through. ``SPOOL_MAX_CONCURRENT_RUNS`` is 1 here, so one such leftover would
refuse every next send of the user, in any conversation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatapp.services import START_FAILED
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.attachments import image_bytes
from tests.support.client import SpoolClient, count, last_answer_id
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.uploads import post_files

VISION = "vision-model"
HTMX = {"HX-Request": "true"}
PNG = ("chart.png", image_bytes(64, 32), "image/png")
SLOW = "[slow]"
LONG = "\n\n".join(f"Paragraph {i} of a long answer about the chart." for i in range(60))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(VISION,)) as server:
        server.set_default(Script.text("Seen."))
        server.when(SLOW, Script.text(LONG, chunk_size=8, delay=0.02))
        yield server


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    env = {
        "SPOOL_LLM_BASE_URL": fake.base_url,
        "SPOOL_LLM_MODELS": VISION,
        "SPOOL_LLM_VISION_MODELS": VISION,
        "SPOOL_MAX_CONCURRENT_RUNS": "1",
    }
    with run_daphne(tmp_path_factory.mktemp("start-failures"), env) as server:
        yield server


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def _ask_with_image(client: SpoolClient, text: str) -> tuple[str, str]:
    """A new conversation whose first question carries PNG: (its path, the answer's id)."""
    r = post_files(client, "/c/new", text, [PNG], htmx=False, model=VISION)
    assert r.status_code == 200, r.text[:300]
    return r.url.path, last_answer_id(r.text)


def _break_the_image(spool: DaphneServer, answer_id: str) -> None:
    """The question's stored image can no longer be read (not missing: unreadable)."""
    question = spool.message(answer_id)["reply_to_id"]
    (row,) = spool.query("SELECT file FROM chatapp_attachment WHERE message_id = ?", (question,))
    stored = spool.db_path.parent / "uploads" / row["file"]
    stored.unlink()
    stored.mkdir()  # open() now raises IsADirectoryError


def _answer(html: str, answer_id: str) -> str:
    start = html.index(f'<article id="m-{answer_id}"')
    return html[start : html.index("</article>", start)]


def _next_send_is_accepted(client: SpoolClient, spool: DaphneServer) -> None:
    """No live answer is left counted: with a limit of 1, a new conversation starts."""
    live = "SELECT id FROM chatapp_message WHERE status IN ('pending', 'streaming')"
    assert not spool.query(live)
    _, answer_id = client.start_conversation("And a new question", model=VISION)
    client.stream_until(answer_id, count("done", 1))
    assert spool.wait_status(answer_id, "complete")["content"] == "Seen."


def test_a_regenerate_that_cannot_start_is_failed_in_place_not_a_500(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    path, answer_id = _ask_with_image(client, "What is this?")
    client.stream_until(answer_id, count("done", 1))
    _break_the_image(spool, answer_id)
    requests = len(fake.chat_requests)

    r = client.post(f"/m/{answer_id}/regenerate", headers=HTMX)

    assert r.status_code == 200, r.text[:500]
    new_id = last_answer_id(r.text)
    assert new_id != answer_id
    row = spool.message(new_id)
    assert (row["status"], row["error_code"]) == ("failed", "internal")
    assert row["error_message"] == START_FAILED
    assert row["error_retryable"]
    assert len(fake.chat_requests) == requests, "the model was never asked"
    # Shown in place, finished: the error and Retry, the old version beside
    # it, and the composer back to Send (no Stop, no stream to follow).
    shown = _answer(r.text, new_id)
    assert "sse-connect" not in shown
    assert START_FAILED in shown
    assert f'action="/m/{new_id}/retry"' in shown
    assert 'aria-label="Version 2 of 2"' in shown
    assert 'id="stop-button"' not in r.text
    # Said once the swap has settled: the state, then why (docs/accessibility.md).
    said = r.headers["HX-Trigger-After-Settle"]
    assert '"spool:said": {"text": "Answer failed."}' in said
    assert "spool:alert" in said
    # The server's log has the exception and the answer.
    log = spool.log()
    assert "IsADirectoryError" in log
    assert f"answer {new_id}" in log
    # A reload shows the same.
    assert START_FAILED in _answer(client.http.get(path).text, new_id)

    # The same conversation takes the next question (it fails too, the image
    # being still unreadable, but in place: not refused as busy).
    r = client.send(path, "Never mind the image")
    assert r.status_code == 200, r.text[:500]
    assert spool.message(last_answer_id(r.text))["status"] == "failed"
    _next_send_is_accepted(client, spool)


def test_without_script_the_page_shows_the_failed_answer(
    client: SpoolClient, spool: DaphneServer
) -> None:
    """A plain form post: the redirect lands on the conversation's page, which
    shows the question and the failed answer."""
    path, answer_id = _ask_with_image(client, "What is this?")
    client.stream_until(answer_id, count("done", 1))
    _break_the_image(spool, answer_id)

    r = client.post(f"/m/{answer_id}/regenerate")  # without htmx: back to the page

    assert r.status_code == 200, r.text[:500]
    assert r.url.path == path
    new_id = last_answer_id(r.text)
    assert spool.message(new_id)["status"] == "failed"
    assert START_FAILED in _answer(r.text, new_id)
    assert "What is this?" in r.text
    _next_send_is_accepted(client, spool)


def test_a_continue_that_cannot_start_keeps_the_partial_answer(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    _, answer_id = _ask_with_image(client, f"{SLOW} Describe it at length")
    applied = client.stream_until(answer_id, count("block", 3))
    r = client.post(f"/m/{answer_id}/stop", {"seen": applied[-1].id or ""}, headers=HTMX)
    assert r.status_code == 204
    partial = spool.wait_status(answer_id, "stopped")["content"]
    assert partial.startswith("Paragraph 0")
    _break_the_image(spool, answer_id)
    requests = len(fake.chat_requests)

    r = client.post(f"/m/{answer_id}/continue", headers=HTMX)

    assert r.status_code == 200, r.text[:500]
    row = spool.message(answer_id)
    assert (row["status"], row["error_code"]) == ("failed", "internal")
    assert row["content"] == partial, "the saved part is kept"
    assert len(fake.chat_requests) == requests
    shown = _answer(r.text, answer_id)
    assert "sse-connect" not in shown
    assert START_FAILED in shown
    assert "Paragraph 0" in shown
    assert f'action="/m/{answer_id}/retry"' in shown
    assert 'id="stop-button"' not in r.text
    _next_send_is_accepted(client, spool)
