"""Reasoning through a real daphne and the fake model server.

For each way a server sends thinking (``reasoning_content``, ``reasoning``,
``<think>`` tags cut across chunks) the stored reasoning and answer are
exactly apart, both times to first token are set, and the HTML and JSON
streams carry the reasoning as events of its own. Stop while the model
thinks hangs up on the model server within 250 ms and keeps the thoughts;
Continue then starts a fresh answer. A stream cut again and again while the
model thinks resumes with no thought lost or doubled.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.conftest import FAKE_MODEL
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Reasoning, Script
from tests.support.client import SpoolClient, SSEEvent, count
from tests.support.cut_proxy import CutProxy, schedule
from tests.support.daphne import DaphneServer
from tests.support.json_stream import JsonEvent, read_events
from tests.test_stream_cuts import (
    MAX_CONNECTIONS,
    as_json_events,
    as_page_events,
    in_thread,
    read_with_reconnects,
)
from tests.test_views_stream import PageModel

THOUGHT = "First I compare *a* and *b*.\n\nThen **b** wins: 7 > 5, clearly."
ANSWER = "The answer is **b**.\n\nBecause it is larger."
SCRIPTS = {
    "reasoning_content": Script.reasoning_then_text(
        THOUGHT, ANSWER, field="reasoning_content", delay=0.01
    ),
    "reasoning": Script.reasoning_then_text(THOUGHT, ANSWER, field="reasoning", delay=0.01),
    "think_tags": Script.think_tags(THOUGHT, ANSWER, chunk_size=3, delay=0.005),
}
# The bound for the model server to see the hang-up after Stop.
HANGUP_WITHIN_S = 0.25
# A long think for the cut test: ~6,000 characters, ~8 s.
LONG_THOUGHT = "\n\n".join(
    f"Step {i}: weigh the café option against the naïve one, then check ✓ again." for i in range(80)
)
MIN_CUTS = 15


@pytest.fixture(scope="module", autouse=True)
def scenarios(fake_llm: FakeOpenAIServer) -> None:
    for name, script in SCRIPTS.items():
        fake_llm.when(f"[r:{name}]", script)
    fake_llm.when(
        "[r:long]", Script.reasoning_then_text(LONG_THOUGHT, ANSWER, chunk_size=8, delay=0.01)
    )


class ReasoningPage(PageModel):
    """The answer as the page shows it, and the reasoning's disclosure."""

    def __init__(self) -> None:
        super().__init__()
        self.reasoning_blocks = ""
        self.reasoning_tail = ""
        self.label = ""
        self.shown = False

    def apply(self, events: list[SSEEvent]) -> ReasoningPage:
        super().apply(events)
        for e in events:
            data = "" if e.data == " " else e.data
            if e.event.startswith("reasoning-"):
                self.shown = True
            if e.event == "reasoning-blocks":
                self.reasoning_blocks = data
            elif e.event == "reasoning-block":
                self.reasoning_blocks += data
            elif e.event == "reasoning-tail":
                self.reasoning_tail = data
            elif e.event == "reasoning-label":
                self.label = data
        return self

    @property
    def reasoning_html(self) -> str:
        return self.reasoning_blocks + self.reasoning_tail


def joined(events: list[JsonEvent], name: str) -> str:
    return "".join(e.data["text"] for e in events if e.event == name)


@pytest.mark.parametrize("scenario", list(SCRIPTS))
def test_reasoning_is_stored_and_streamed_apart(
    client: SpoolClient, spool_server: DaphneServer, scenario: str
) -> None:
    path, mid = client.start_conversation(f"[r:{scenario}] which is larger?", model=FAKE_MODEL)
    # From the run's first event, as the page the first send lands on reads it.
    events = client.stream_until(mid, count("done", 1), last_event_id="0")
    row = spool_server.wait_status(mid, "complete")

    assert (row["reasoning"], row["content"]) == (THOUGHT, ANSWER)
    assert row["ttft_ms"] is not None
    assert row["answer_ttft_ms"] is not None
    assert row["answer_ttft_ms"] >= row["ttft_ms"]
    assert row["reasoning_ms"] is not None
    assert row["reasoning_tokens"]

    # HTML: the thoughts go to the disclosure, the answer to the body; the
    # status region hears "Thinking…" and "Thought for" once each, never a thought.
    page = ReasoningPage().apply(events)
    assert page.html == row["html"]
    assert page.reasoning_html == row["reasoning_html"]
    assert "<em>a</em>" in page.reasoning_html
    assert page.label.startswith("Thought for ")
    said = [e.data for e in events if e.event in ("status", "announce", "alert")]
    assert said.count("Thinking…") == 1
    assert len([s for s in said if s.startswith("Thought for ")]) == 1
    assert not any("compare" in s or "wins" in s for s in said)

    # JSON: reasoning events of their own, the thinking over before the answer.
    json_events = read_events(client.http, mid, after="0", until="final")
    assert joined(json_events, "reasoning") == THOUGHT
    assert joined(json_events, "delta") == ANSWER
    names = [e.event for e in json_events]
    assert names.count("reasoning_done") == 1
    assert names.index("reasoning_done") < names.index("delta")
    final = json_events[-1].data["metrics"]
    assert final["answer_ttft_ms"] == row["answer_ttft_ms"]
    assert final["reasoning_ms"] == row["reasoning_ms"]

    # A reload shows the stored reasoning collapsed, apart from the answer.
    html = client.http.get(path).text
    assert 'class="reasoning"' in html
    assert "Thought for" in html
    # A late JSON reader of the finished answer gets it from the database too.
    late = read_events(client.http, mid, until="final")
    assert late[0].event == "snapshot"
    assert late[0].data["reasoning"] == THOUGHT


def test_stop_while_thinking_hangs_up_and_keeps_the_thoughts_then_continue_answers_afresh(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    thought = "Weighing it slowly. " * 100
    fake_llm.when("[r:stall]", Script((Reasoning(thought, 5, 0.02),)).then_stall(60), times=1)
    path, mid = client.start_conversation("[r:stall] think hard", model=FAKE_MODEL)
    client.stream_until(mid, count("reasoning-tail", 2))

    asked = time.monotonic()
    r = client.post(f"/m/{mid}/stop", headers={"HX-Request": "true"})
    assert r.status_code == 204
    record = fake_llm.wait_for_hangup(timeout=2, prompt="[r:stall]")
    assert record.hung_up_at is not None
    assert record.hung_up_at - asked < HANGUP_WITHIN_S

    row = spool_server.wait_status(mid, "stopped")
    assert row["content"] == ""
    assert row["reasoning"]
    assert thought.startswith(row["reasoning"])
    assert row["reasoning_ms"] is not None
    # The footer offers Continue (there are thoughts, though no answer yet).
    html = client.http.get(path).text
    assert f'action="/m/{mid}/continue"' in html

    # Continue starts a fresh answer: the prompt ends with the question, not a
    # prefill of an empty answer; the rule stepped aside, the default answers.
    requests_before = len(fake_llm.chat_requests)
    r = client.post(f"/m/{mid}/continue", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    client.stream_until(mid, count("done", 1))
    row = spool_server.wait_status(mid, "complete")
    assert row["content"].startswith("Hello from the **fake model**.")
    body = fake_llm.chat_requests[requests_before].body
    assert body["messages"][-1]["role"] == "user"
    assert "[r:stall]" in body["messages"][-1]["content"]


@pytest.fixture
def seed(capsys: pytest.CaptureFixture[str]) -> int:
    value = int(os.environ.get("SPOOL_CUT_SEED") or random.SystemRandom().randrange(2**32))
    with capsys.disabled():
        print(f"\ncut proxy seed: {value} (replay with SPOOL_CUT_SEED={value})")
    return value


def test_cuts_while_thinking_lose_and_double_nothing(
    client: SpoolClient, spool_server: DaphneServer, seed: int
) -> None:
    _, mid = client.start_conversation("[r:long] think it through", model=FAKE_MODEL)
    upstream = [("127.0.0.1", int(spool_server.url.rsplit(":", 1)[1]))]
    with (
        CutProxy(upstream, schedule(seed, MAX_CONNECTIONS, 1, 2000)) as html_proxy,
        CutProxy(upstream, schedule(seed + 1, MAX_CONNECTIONS, 1, 800)) as json_proxy,
    ):
        html_join = in_thread(
            lambda: read_with_reconnects(
                html_proxy.url, client.http.cookies, f"/m/{mid}/stream", "done"
            )
        )
        json_join = in_thread(
            lambda: read_with_reconnects(
                json_proxy.url, client.http.cookies, f"/m/{mid}/events", "final"
            )
        )
        html, text = html_join(), json_join()
    row = spool_server.wait_status(mid, "complete", timeout=30)
    context = f"seed {seed}"
    assert (row["reasoning"], row["content"]) == (LONG_THOUGHT, ANSWER), context
    for name, proxy, session in (("html", html_proxy, html), ("json", json_proxy, text)):
        assert len(proxy.cuts) >= MIN_CUTS, f"{name}: {len(proxy.cuts)} cuts; {context}"
        assert session.ids == sorted(set(session.ids)), f"{name}: an event twice; {context}"
    page = ReasoningPage().apply(as_page_events(html.events))
    assert page.reasoning_html == row["reasoning_html"], context
    assert page.html == row["html"], context
    events = as_json_events(text.events)
    reasoning = ""
    for e in events:
        if e.event == "snapshot":
            reasoning = e.data.get("reasoning", "")
        elif e.event == "reasoning":
            reasoning += e.data["text"]
    assert reasoning == row["reasoning"], context
