"""A shared link of an answer with tool calls (chatapp/shares.py), through a
real daphne and the fake model server: the copy shows each chip where the
answer had it, whether the link was made while the answer was still being
written (from its checkpointed text and calls) or after it finished (its
stored HTML)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Finish, Script, ToolCallDelta
from tests.support.client import SpoolClient, count
from tests.support.daphne import DaphneServer, run_daphne

MODEL = "fake-model"
BEFORE = "Let me work it out."
CHIP = "Calculated: 1024"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(MODEL,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, server: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("shares-tools")
    env = {
        "SPOOL_LLM_BASE_URL": server.base_url,
        "SPOOL_LLM_MODELS": MODEL,
        "SPOOL_LLM_TOOL_MODELS": "*",
    }
    with run_daphne(tmp, env) as daphne:
        yield daphne


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


@pytest.fixture
def anon(spool: DaphneServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=spool.url) as c:
        yield c


def share(client: SpoolClient, page: str) -> str:
    """Share the conversation at ``page``: the link's path."""
    r = client.post(f"{page}share")
    assert r.status_code == 200
    (link,) = re.findall(r'id="share-url" type="text" readonly value="([^"]+)"', r.text)
    return httpx.URL(link).path


def shared_answer(page: str) -> str:
    """The shared page's answer article."""
    start = page.index('<article class="msg msg-assistant"')
    return page[start : page.index("</article>", start)]


def wait_checkpoint(spool: DaphneServer, answer_id: str, text: str) -> dict[str, object]:
    """The row once a checkpoint holds ``text`` and the calls made so far."""
    deadline = time.monotonic() + 20
    while True:
        row = spool.message(answer_id)
        if text in row["content"] and json.loads(row["tool_calls"] or "[]"):
            return row
        assert time.monotonic() < deadline, f"no checkpoint with {text!r}"
        time.sleep(0.05)


def test_a_live_answer_is_shared_with_its_chips_in_place(
    client: SpoolClient, spool: DaphneServer, server: FakeOpenAIServer, anon: httpx.Client
) -> None:
    """Shared in the round after a call: the copy has the chip between the
    text before it and the text written after it so far; shared again once
    the answer has finished, the same, from its stored HTML."""
    after = "It is 1024. " + " ".join(f"Then word{i} follows." for i in range(200))
    server.enqueue(
        Script.tool_call("calculator", {"expression": "2^10"}, before=BEFORE),
        Script.text(after, chunk_size=6, delay=0.02),
    )
    page, answer_id = client.start_conversation(f"share me live {uuid.uuid4().hex[:6]}", MODEL)
    # A checkpoint of the round after the call (one a second).
    wait_checkpoint(spool, answer_id, "Then word")
    link = share(client, page)
    assert spool.message(answer_id)["status"] == "streaming", "shared while being written"

    copy = shared_answer(anon.get(link).text)
    assert "This answer was still being written when the link was made." in copy
    assert copy.index(BEFORE) < copy.index(CHIP) < copy.index("It is 1024.")
    assert "tool-chip-done" in copy

    client.stream_until(answer_id, count("done", 1))
    row = spool.wait_status(answer_id, "complete")
    copy = shared_answer(anon.get(share(client, page)).text)
    assert row["html"] in copy  # the finished answer's own HTML
    assert copy.index(BEFORE) < copy.index(CHIP) < copy.index("It is 1024.")


def test_a_live_answer_with_only_a_running_call_is_shared_without_a_spinner(
    client: SpoolClient, spool: DaphneServer, server: FakeOpenAIServer, anon: httpx.Client
) -> None:
    """A call still running and no text yet: the copy shows the chip's words
    (not an empty answer, nor nothing), and no spinner that would turn for
    ever on a page that never changes."""
    held = Script((ToolCallDelta("calculator", '{"expression": "2^10"}'),), name="held")
    server.enqueue(held.then(Finish("tool_calls")).then_stall(20))
    page, answer_id = client.start_conversation(f"share me running {uuid.uuid4().hex[:6]}", MODEL)
    wait_checkpoint(spool, answer_id, "")
    link = share(client, page)

    copy = shared_answer(anon.get(link).text)
    assert "Calculating 2^10 …" in copy
    assert "tool-chip-spinner" not in copy
    assert "This answer was still being written when the link was made." in copy

    r = client.post(f"/m/{answer_id}/stop", headers={"HX-Request": "true"})
    assert r.status_code == 204
    spool.wait_status(answer_id, "stopped")
