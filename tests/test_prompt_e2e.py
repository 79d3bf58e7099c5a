"""The prompt through a real daphne and the fake model server: the system prompt
comes first, the conversation's own replaces the default, and old turns are left
out (and said to be) when the context is full."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient, count, last_answer_id
from tests.support.daphne import DaphneServer, run_daphne

MODEL = "fake-model"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(MODEL,)) as server:
        server.set_default(Script.text("Noted."))
        yield server


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("prompt")
    env = {
        "SPOOL_LLM_BASE_URL": fake.base_url,
        "SPOOL_LLM_MODELS": MODEL,
        "SPOOL_SYSTEM_PROMPT": "Be concise.",
        # 700 - 200: a prompt of ~500 tokens, about 1,500 bytes.
        "SPOOL_DEFAULT_CONTEXT_WINDOW": "700",
        "SPOOL_MAX_OUTPUT_TOKENS": "200",
    }
    with run_daphne(tmp, env) as server:
        yield server


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def _send(client: SpoolClient, path: str, text: str) -> str:
    r = client.send(path, text)
    assert r.status_code == 200, r.text[:300]
    answer_id = last_answer_id(r.text)
    client.stream_until(answer_id, count("done", 1))
    return answer_id


def _roles(fake: FakeOpenAIServer) -> list[tuple[str, str]]:
    body = fake.chat_requests[-1].body
    return [(m["role"], m["content"][:12]) for m in body["messages"]]


def test_the_system_prompt_comes_first_and_can_be_changed(
    client: SpoolClient, fake: FakeOpenAIServer
) -> None:
    path, answer_id = client.start_conversation("hello", model=MODEL)
    client.stream_until(answer_id, count("done", 1))
    assert _roles(fake) == [("system", "Be concise."), ("user", "hello")]
    conversation_id = path.strip("/").split("/")[-1]

    r = client.post(f"/c/{conversation_id}/instructions", {"system_prompt": "Talk like a pirate."})
    assert r.status_code == 200  # followed the 303 back to the page
    assert "Talk like a pirate.</textarea>" in r.text
    _send(client, path, "again")
    assert _roles(fake)[0] == ("system", "Talk like a ")

    client.post(f"/c/{conversation_id}/instructions", {"system_prompt": ""})
    _send(client, path, "plain")
    assert [role for role, _ in _roles(fake)] == ["user", "assistant"] * 2 + ["user"]

    client.post(f"/c/{conversation_id}/instructions", {"action": "default"})
    _send(client, path, "back")
    assert _roles(fake)[0] == ("system", "Be concise.")


def test_old_turns_are_left_out_when_the_context_is_full_and_the_answer_says_so(
    client: SpoolClient, spool: DaphneServer, fake: FakeOpenAIServer
) -> None:
    chunk = "lorem ipsum " * 40  # ~480 bytes, ~164 tokens by the estimate
    path, first = client.start_conversation("first " + chunk, model=MODEL)
    client.stream_until(first, count("done", 1))
    _send(client, path, "second " + chunk)
    third = _send(client, path, "third " + chunk)

    contents = [m["content"] for m in fake.chat_requests[-1].body["messages"]]
    assert contents[0] == "Be concise."
    assert [c.split()[0] for c in contents[1:]] == ["second", "Noted.", "third"]
    assert spool.message(third)["prompt_dropped"] == 2
    page = client.http.get(path).text
    assert page.count("Earlier messages were left out to fit the model's context") == 1


def test_a_message_too_long_for_the_context_is_refused_with_the_text_kept(
    client: SpoolClient, fake: FakeOpenAIServer
) -> None:
    path, answer_id = client.start_conversation("short", model=MODEL)
    client.stream_until(answer_id, count("done", 1))
    before = len(fake.chat_requests)
    r = client.send(path, "long " * 400)
    assert r.status_code == 422
    assert "too long for this model" in r.text
    assert len(fake.chat_requests) == before, "no request was made"
