"""The HTML stream through a real daphne server, real HTTP and a real SSE reader."""

from __future__ import annotations

import json
import re
import threading
import time

from tests.conftest import FAKE_MODEL
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient, SSEEvent, count, iter_sse, live_message_id


class PageModel:
    """What htmx does with the stream's events, as plain string operations."""

    def __init__(self) -> None:
        self.blocks = ""
        self.tail = ""

    def apply(self, events: list[SSEEvent]) -> PageModel:
        for e in events:
            # " " is how the server says "empty" (browsers drop empty events).
            data = "" if e.data == " " else e.data
            if e.event == "blocks":
                self.blocks = data
            elif e.event == "block":
                self.blocks += data
            elif e.event == "tail":
                self.tail = data
            elif e.event == "tail-append":
                from streaming.markdown.ops import apply_ops

                self.tail = apply_ops(self.tail, [tuple(op) for op in json.loads(e.data)])
            elif e.event == "tool":
                self._chip(data)
        return self

    def _chip(self, html: str) -> None:
        """static/js/spool.js: the chip with that id replaced, else appended."""
        m = re.match(r'<p class="[^"]*" id="([^"]+)">', html)
        assert m, html
        shown = re.search(rf'<p class="[^"]*" id="{re.escape(m.group(1))}">.*?</p>', self.blocks)
        if shown:
            self.blocks = self.blocks[: shown.start()] + html + self.blocks[shown.end() :]
        else:
            self.blocks += html

    @property
    def html(self) -> str:
        return self.blocks + self.tail


def names(events: list[SSEEvent]) -> list[str]:
    return [e.event for e in events]


def test_answer_streams_as_html_blocks_and_ends_with_done(client, spool_server):
    _, mid = client.start_conversation("[long] stream me", model=FAKE_MODEL)
    events = client.stream_events(mid)
    kinds = names(events)
    assert kinds[:2] == ["blocks", "tail"], "a new connection starts with a snapshot"
    assert kinds[-1] == "done"
    assert {"tail", "block", "status", "announce"} <= set(kinds)
    # Each log event's frames end with its offset as the SSE id, strictly increasing.
    ids = [int(e.id) for e in events if e.id]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    row = spool_server.wait_status(mid, "complete")
    assert PageModel().apply(events).html == row["html"]
    assert row["ttft_ms"] is not None
    assert row["tokens_per_s"] is not None
    # The stream records what it sent once it has ended.
    deadline = time.monotonic() + 5
    while spool_server.message(mid)["bytes_sent"] == 0:
        assert time.monotonic() < deadline, "bytes_sent was never recorded"
        time.sleep(0.05)
    assert spool_server.message(mid)["bytes_sent"] > len(row["html"])


def test_demo_model_answers_with_real_markdown(client, spool_server):
    _, mid = client.start_conversation("Show me a table please", model="demo")
    client.stream_events(mid)
    row = spool_server.wait_status(mid, "complete")
    assert "<table>" in row["html"]
    assert "Server-Sent Events" in row["content"]


def test_response_headers_keep_proxies_from_buffering(client):
    _, mid = client.start_conversation("hello", model="demo")
    with client.http.stream("GET", f"/m/{mid}/stream") as r:
        assert r.headers["cache-control"] == "no-cache, no-transform"
        assert r.headers["x-accel-buffering"] == "no"
        first = next(r.iter_lines())
        assert first.startswith("retry:")


def test_resume_with_last_event_id_continues_without_duplicates(client, spool_server):
    _, mid = client.start_conversation("[long] resume me", model=FAKE_MODEL)
    first = client.stream_until(mid, count("tail", 5))  # then the network "drops"
    resume_from = first[-1].id
    assert resume_from is not None
    rest = client.stream_events(mid, last_event_id=resume_from)
    assert "blocks" not in names(rest)
    assert all(int(e.id) > int(resume_from) for e in rest if e.id)
    ids = [int(e.id) for e in first + rest if e.id]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert names(rest)[-1] == "done"
    # What a page applying these events shows is exactly the saved answer.
    row = spool_server.wait_status(mid, "complete")
    assert PageModel().apply(first + rest).html == row["html"]


def test_new_subscriber_gets_a_snapshot_of_the_current_state(client, spool_server):
    _, mid = client.start_conversation("[long] snapshot me", model=FAKE_MODEL)
    time.sleep(1.0)
    stream = client.stream(mid)
    first = next(e for e in stream if isinstance(e, SSEEvent))
    second = next(e for e in stream if isinstance(e, SSEEvent))
    assert (first.event, second.event) == ("blocks", "tail")
    assert "<p>Paragraph 0" in first.data
    assert first.id is None, "the id goes on the last frame of the snapshot"
    assert second.id is not None


def test_stop_cancels_upstream_and_keeps_the_partial_answer(client, spool_server, fake_llm):
    page, mid = client.start_conversation("[long] please stop me", model=FAKE_MODEL)
    applied = client.stream_until(mid, lambda events: "Paragraph 3" in events[-1].data)
    seen = applied[-1].id
    started = time.monotonic()
    r = client.post(f"/m/{mid}/stop", {"seen": seen or ""}, headers={"HX-Request": "true"})
    assert r.status_code == 204
    row = spool_server.message(mid)  # saved before the POST returned
    assert row["status"] == "stopped"
    assert "Paragraph 3" in row["content"]
    assert "Paragraph 39" not in row["content"]
    # The model server saw the connection close at once: Stop really stops.
    hung_up = fake_llm.wait_for_hangup(3, prompt="please stop me").hung_up_at
    assert hung_up is not None
    assert hung_up - started < 0.25
    # After a reload the partial answer is there, marked stopped.
    html = client.http.get(page).text
    assert "Paragraph 3" in html
    assert "Stopped." in html


def test_stop_keeps_only_what_the_page_had_applied(client, spool_server):
    _, mid = client.start_conversation("[long] clamp me", model=FAKE_MODEL)
    applied = client.stream_until(mid, count("tail", 3))
    time.sleep(0.5)  # more text arrives that this "page" never applied
    client.post(f"/m/{mid}/stop", {"seen": applied[-1].id or ""}, headers={"HX-Request": "true"})
    row = spool_server.wait_status(mid, "stopped")
    assert row["content"], "the partial answer was lost"

    def words(html_or_text: str) -> str:
        return " ".join(re.sub(r"<[^>]+>", " ", html_or_text).split())

    # Exactly the text the page showed is kept; nothing that was still in flight.
    assert words(row["content"]) == words(PageModel().apply(applied).html)


def test_provider_error_midstream_keeps_partial_and_offers_retry(client, spool_server):
    page, mid = client.start_conversation("[late-error] go", model=FAKE_MODEL)
    events = client.stream_events(mid)
    assert "alert" in names(events)
    done = events[-1]
    assert done.event == "done"
    assert "Retry" in done.data
    row = spool_server.wait_status(mid, "failed")
    assert row["content"] == "Half an answer"
    assert row["error_code"]
    html = client.http.get(page).text
    assert "Half an answer" in html
    assert "Retry" in html
    # Retry starts a new answer to the same question.
    r = client.post(f"/m/{mid}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 200
    new_id = live_message_id(r.text)
    assert new_id != mid


def test_upstream_rate_limit_is_explained(client, spool_server):
    page, mid = client.start_conversation("[429] hi", model=FAKE_MODEL)
    row = spool_server.wait_status(mid, "failed")
    assert row["error_code"] == "rate_limit"
    assert "7 seconds" in row["error_message"]
    # Whether the page connected before or after the failure, it says so.
    done = client.stream_events(mid)[-1]
    assert "rate-limited" in done.data
    assert "rate-limited" in client.http.get(page).text


def test_idle_upstream_times_out_and_keeps_partial(client, spool_server):
    _, mid = client.start_conversation("[stall] hi", model=FAKE_MODEL)
    events = client.stream_events(mid)
    assert names(events)[-1] == "done"
    row = spool_server.wait_status(mid, "failed")
    assert row["error_code"] == "timeout"
    assert row["content"] == "Thinking about it"


def test_browser_disconnect_does_not_kill_the_answer(client, spool_server):
    _, mid = client.start_conversation("[long] keep going", model=FAKE_MODEL)
    client.stream_until(mid, count("tail", 1))  # then the tab closes
    row = spool_server.wait_status(mid, "complete", timeout=20)
    assert "Paragraph 39" in row["content"]


def test_two_subscribers_see_the_same_answer(client, spool_server):
    _, mid = client.start_conversation("[long] share me", model=FAKE_MODEL)
    results: dict[str, list[SSEEvent]] = {}

    def watch(key: str) -> None:
        results[key] = client_copy(client).stream_events(mid)

    threads = [threading.Thread(target=watch, args=(k,)) for k in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert names(results["a"])[-1] == names(results["b"])[-1] == "done"
    final = spool_server.wait_status(mid, "complete")
    assert "Paragraph 39" in final["html"]


def client_copy(c: SpoolClient) -> SpoolClient:
    twin = SpoolClient(str(c.http.base_url))
    twin.http.cookies.update(c.http.cookies)
    return twin


def test_finished_answer_stream_replays_from_the_database(client, spool_server):
    _, mid = client.start_conversation("hello", model="demo")
    client.stream_events(mid)
    again = client.stream_events(mid)
    assert names(again) == ["blocks", "tail", "done"]
    assert "demo model" in again[0].data


def test_fake_server_is_the_only_fake(fake_llm: FakeOpenAIServer, client, spool_server):
    """The daphne process really calls the model server over HTTP."""
    before = len(fake_llm.chat_requests)
    _, mid = client.start_conversation("plain question", model=FAKE_MODEL)
    client.stream_events(mid)
    record = fake_llm.wait_for_requests(before + 1)[-1]
    assert record.body["stream"] is True
    assert record.body["stream_options"] == {"include_usage": True}
    assert record.body["messages"][-1] == {"role": "user", "content": "plain question"}


def test_the_first_sends_page_replays_its_answer_from_the_start_once(client, spool_server):
    r = client.post("/c/new", {"text": "[long] replay me", "model": FAKE_MODEL})
    mid = live_message_id(r.text)
    # The page shows nothing of the answer yet; its stream asks for all of it.
    assert f'sse-connect="/m/{mid}/stream?replay=1"' in r.text
    assert re.search(rf'id="m-{mid}-blocks"[^>]*></div>', r.text), "the body starts empty"
    # Only that page load: a reload is a fresh page (a snapshot, nothing replayed).
    again = client.http.get(r.url.path)
    assert f'sse-connect="/m/{mid}/stream"' in again.text
    time.sleep(1.0)  # the run has announced its first block by now
    with client.http.stream("GET", f"/m/{mid}/stream", params={"replay": "1"}) as response:
        events = [e for e in iter_sse(response) if isinstance(e, SSEEvent)]
    assert events[0].event != "blocks", "a replay, not a snapshot"
    announced = [e.data for e in events if e.event == "announce"]
    assert announced[0].startswith("<p>Paragraph 0:")
    row = spool_server.wait_status(mid, "complete")
    assert PageModel().apply(events).html == row["html"]
    # A first connection, not a reconnect, in the answer's metrics (written in batches).
    deadline = time.monotonic() + 10
    while not (saved := spool_server.message(mid))["bytes_sent"]:
        assert time.monotonic() < deadline, "the stream's bytes were never recorded"
        time.sleep(0.2)
    assert saved["reconnects"] == 0
