"""Titles through a real daphne (titles on) and the fake model server: the
title request the server records, the ``title`` event on the answer's own
stream before ``final``, and what a failure or the owner's name leaves."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from streaming.runs.titles import TITLE_INSTRUCTION
from tests.fakes.openai_server import FakeOpenAIServer, RequestRecord
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient, SSEEvent
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.json_stream import read_events

MODEL = "fake-model"
# Marked as a reasoning model (SPOOL_LLM_REASONING_MODELS).
THINKER = "fake-thinker"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(MODEL, THINKER)) as server:
        server.set_default(Script.text("Here is an answer.", chunk_size=4, delay=0.01))
        # Which title comes back is decided by the question, in the title request only.
        server.when("[slow]", Script.text("Slowly. " * 40, chunk_size=8, delay=0.03))
        # Title requests (the title prompt), by the test's mark in the question.
        server.when_system(
            TITLE_INSTRUCTION, Script.text('"Three days in Lisbon."'), question="[t1]"
        )
        server.when_system(
            TITLE_INSTRUCTION, Script.http_error(500, "boom", type="server_error"), question="[t2]"
        )
        server.when_system(TITLE_INSTRUCTION, Script.text("Model title"), question="[t3]")
        server.when_system(
            TITLE_INSTRUCTION,
            Script.reasoning_then_text("They ask about trams; a short title.", "Trams of Lisbon"),
            question="[t4]",
        )
        yield server


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    env = {
        "SPOOL_LLM_BASE_URL": fake.base_url,
        "SPOOL_LLM_MODELS": f"{MODEL},{THINKER}",
        "SPOOL_LLM_REASONING_MODELS": THINKER,
        "SPOOL_DEMO_TOKEN_DELAY_S": "0.002",
        "SPOOL_TITLES": "1",
    }
    with run_daphne(tmp_path_factory.mktemp("titles"), env) as server:
        yield server


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def _title_requests(fake: FakeOpenAIServer, question: str) -> list[RequestRecord]:
    return [
        r
        for r in fake.chat_requests
        if r.body["messages"][0]["content"] == TITLE_INSTRUCTION and question in r.last_user_text
    ]


def _conversation(spool: DaphneServer, path: str) -> dict[str, object]:
    key = path.strip("/").split("/")[-1].replace("-", "")
    (row,) = spool.query("SELECT * FROM chatapp_conversation WHERE id = ?", (key,))
    return row


def _all_events(client: SpoolClient, answer: str) -> list[SSEEvent]:
    """The run's events from its first (``Last-Event-ID: 0``): a stream opened
    after a quick answer ended would start with a snapshot, without them."""
    return client.stream_events(answer, last_event_id="0")


def _names(events: list[SSEEvent]) -> list[str]:
    return [e.event for e in events]


def test_the_demo_model_titles_the_first_answer_live(
    client: SpoolClient, spool: DaphneServer
) -> None:
    question = "How do I write a retry helper in Python?"
    path, answer = client.start_conversation(question, model="demo")
    events = _all_events(client, answer)
    names = _names(events)
    # On the answer's own stream, after its text and before its end.
    assert names.index("title") < names.index("done")
    (title,) = [e for e in events if e.event == "title"]
    assert "<title>Retry helper in Python · Spool</title>" in title.data
    assert re.search(r'id="conversation-title" hx-swap-oob="innerHTML">Retry helper', title.data)
    assert f'id="conversation-list-t-{path.split("/")[2]}"' in title.data
    row = _conversation(spool, path)
    assert (row["title"], row["title_source"]) == ("Retry helper in Python", "model")
    page = client.http.get(path).text
    assert "<title>Retry helper in Python · Spool</title>" in page


def test_the_fake_server_gets_the_title_prompt(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    question = "Plan three days in Lisbon [t1]"
    path, answer = client.start_conversation(question, model=MODEL)
    events = _all_events(client, answer)
    (request,) = _title_requests(fake, question)
    assert request.body["messages"] == [
        {"role": "system", "content": TITLE_INSTRUCTION},
        {"role": "user", "content": question},
    ]
    assert spool.message(answer)["content"] == "Here is an answer."
    assert "title" in _names(events)
    row = _conversation(spool, path)
    assert (row["title"], row["title_source"]) == ("Three days in Lisbon", "model")
    # Later answers ask for none.
    r = client.send(path, "And Porto? [t1-next]")
    assert r.status_code == 200
    second = re.findall(r'<article id="m-([0-9a-f-]+)" class="msg msg-assistant', r.text)[-1]
    assert "title" not in _names(_all_events(client, second))
    assert _title_requests(fake, "[t1-next]") == []


def test_a_reasoning_model_titles_with_little_thinking_and_room_to_write(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    """The title request of a reasoning model asks for low effort and gives
    it room (its thinking takes output tokens); its thinking is not the title."""
    question = "Which tram goes to the castle? [t4]"
    path, answer = client.start_conversation(question, model=THINKER)
    events = _all_events(client, answer)
    (request,) = _title_requests(fake, question)
    assert request.body["model"] == THINKER
    assert request.body["reasoning_effort"] == "low"
    assert request.body["max_tokens"] == 512
    asked = [r for r in fake.chat_requests if r.last_user_text == question]
    (answered,) = [r for r in asked if r is not request]
    assert "reasoning_effort" not in answered.body  # the conversation asked for no effort
    assert "title" in _names(events)
    row = _conversation(spool, path)
    assert (row["title"], row["title_source"]) == ("Trams of Lisbon", "model")


def test_a_failed_title_request_keeps_the_first_words_and_the_answer(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    question = "Tell me about trams [t2]"
    path, answer = client.start_conversation(question, model=MODEL)
    events = _all_events(client, answer)
    assert len(_title_requests(fake, question)) == 1
    assert "title" not in _names(events)
    assert spool.message(answer)["status"] == "complete"
    assert spool.message(answer)["content"] == "Here is an answer."
    row = _conversation(spool, path)
    assert (row["title"], row["title_source"]) == (question, "first_words")


def test_the_owners_name_is_never_overwritten(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    question = "A slow one [slow] [t3]"
    path, answer = client.start_conversation(question, model=MODEL)
    # Named while the answer streams.
    r = client.post(f"{path}rename", {"title": "Holidays"})
    assert r.status_code == 200
    assert spool.message(answer)["status"] in ("pending", "streaming")
    events = _all_events(client, answer)
    row = _conversation(spool, path)
    assert (row["title"], row["title_source"]) == ("Holidays", "owner")
    # The model's proposal was not saved: neither stream says it (the page
    # already shows the owner's name; a program would take it as the title).
    assert "title" not in _names(events)
    assert "title" not in [e.event for e in read_events(client.http, answer)]
