"""Opening an answer's stream, through a real daphne server and real HTTP.

The stream a page opens right after its send is answered finds the run
already (the send waits for the run's log to open); access is checked once,
when the stream opens; what each stream sent is written to the database in
batches, a few seconds after it ends.
"""

from __future__ import annotations

import threading
import time

import httpx

from chatapp.stream_accounting import FLUSH_S
from tests.conftest import FAKE_MODEL
from tests.support.client import SpoolClient, SSEEvent, count, live_message_id
from tests.support.daphne import DaphneServer

# The batch is written FLUSH_S after the first stream ends; this much more on
# a loaded machine.
ACCOUNTING_SLACK_S = 5.0


def first_items(client: SpoolClient, message_id: str, live_events: int) -> list[SSEEvent | str]:
    """What the stream sends (comments as strings) until ``live_events`` events
    after its snapshot; then the connection is dropped."""
    items: list[SSEEvent | str] = []
    for item in client.stream(message_id):
        items.append(item)
        if sum(isinstance(i, SSEEvent) for i in items) >= 2 + live_events:
            break
    return items


def test_a_stream_opened_right_after_the_send_finds_the_run(
    client: SpoolClient, spool_server: DaphneServer
) -> None:
    page, first = client.start_conversation("hello", model=FAKE_MODEL)
    client.stream_events(first)
    for i in range(3):
        response = client.send(page, f"[long] answer number {i}")
        assert response.status_code == 200, response.text[:300]
        answer = live_message_id(response.text)
        items = first_items(client, answer, live_events=2)  # at once, no reading in between
        comments = [x for x in items if isinstance(x, str)]
        events = [x for x in items if isinstance(x, SSEEvent)]
        assert "starting" not in comments, "the stream came before the run's log"
        assert [e.event for e in events[:2]] == ["blocks", "tail"], "not a snapshot of the run"
        assert events[1].id is not None
        # The run's own events follow on the same connection.
        assert all(e.id is not None and int(e.id) > int(events[1].id) for e in events[2:])
        r = client.post(f"/m/{answer}/stop", {"seen": events[-1].id or ""})
        assert r.status_code == 200
        spool_server.wait_status(answer, "stopped")


def test_only_the_owner_may_open_the_stream(
    client: SpoolClient, other_client: SpoolClient, spool_server: DaphneServer
) -> None:
    _, answer = client.start_conversation("hello", model="demo")
    url = f"/m/{answer}/stream"
    # 404, never a redirect to the login page: EventSource would retry it forever.
    with httpx.Client(base_url=spool_server.url, follow_redirects=False) as anonymous:
        assert anonymous.get(url).status_code == 404
    assert other_client.http.get(url).status_code == 404
    assert client.http.get("/m/00000000-0000-4000-8000-000000000000/stream").status_code == 404
    # The control: the owner gets the answer.
    assert client.stream_events(answer)[-1].event == "done"


def raw_stream(client: SpoolClient, message_id: str, last_event_id: str | None = None) -> bytes:
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with client.http.stream("GET", f"/m/{message_id}/stream", headers=headers) as r:
        assert r.status_code == 200
        return b"".join(r.iter_bytes())


def event_ids(body: bytes) -> list[str]:
    return [line[3:].strip() for line in body.decode().splitlines() if line.startswith("id:")]


def test_bytes_and_reconnects_reach_the_database(
    client: SpoolClient, spool_server: DaphneServer
) -> None:
    _, answer = client.start_conversation("[long] count my bytes", model=FAKE_MODEL)
    # A page that drops after a few events, then the browser's reconnect with
    # the last id it saw, read to the end.
    seen = client.stream_until(answer, count("tail", 3))
    resume_from = seen[-1].id
    assert resume_from is not None
    rest = raw_stream(client, answer, last_event_id=resume_from)
    assert int(event_ids(rest)[0]) > int(resume_from), "the reconnect resumed"
    # And a page opened afterwards, read whole.
    whole = raw_stream(client, answer)
    streamed = len(rest) + len(whole)
    # The three streams may land in different batches: wait for all of them.
    deadline = time.monotonic() + FLUSH_S + ACCOUNTING_SLACK_S
    while (row := spool_server.message(answer))["bytes_sent"] <= streamed:
        assert time.monotonic() < deadline, f"bytes_sent is {row['bytes_sent']} after {streamed}"
        time.sleep(0.05)
    assert row["reconnects"] == 1, "only the stream with Last-Event-ID is a reconnect"
    # The dropped stream's bytes are counted too, as far as the server sent them.
    assert row["bytes_sent"] < streamed + len(whole)


def test_bytes_sent_are_exactly_the_bytes_streamed(
    client: SpoolClient, spool_server: DaphneServer
) -> None:
    _, answer = client.start_conversation("hello", model="demo")
    spool_server.wait_status(answer, "complete")
    whole = raw_stream(client, answer)
    resumed = raw_stream(client, answer, last_event_id=event_ids(whole)[0])
    deadline = time.monotonic() + FLUSH_S + ACCOUNTING_SLACK_S
    while (row := spool_server.message(answer))["bytes_sent"] != len(whole) + len(resumed):
        assert time.monotonic() < deadline, f"bytes_sent is {row['bytes_sent']}"
        time.sleep(0.05)
    assert row["reconnects"] == 1


CONCURRENT_SENDERS = 8


def test_streams_opened_right_after_concurrent_sends_find_their_runs(
    spool_server: DaphneServer,
) -> None:
    """Sends at the same moment queue for the database, and so would each run's
    own first write: the run's log must be open before its send answers anyway.
    (With the log written after the run's first database write, and no wait in
    the send, most of these streams got ``: starting``.)"""
    clients = [SpoolClient(spool_server.url).signup() for _ in range(CONCURRENT_SENDERS)]
    pages = []
    for c in clients:
        page, first = c.start_conversation("hello", model="demo")
        spool_server.wait_status(first, "complete")  # one answer at a time per conversation
        pages.append(page)
    go = threading.Barrier(len(clients))
    answers: dict[int, str] = {}
    seen: dict[int, list[SSEEvent | str]] = {}
    errors: list[BaseException] = []

    def send_then_stream(i: int) -> None:
        try:
            go.wait()
            response = clients[i].send(pages[i], f"[long] together {i}")
            answers[i] = live_message_id(response.text)
            seen[i] = first_items(clients[i], answers[i], live_events=1)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send_then_stream, args=(i,)) for i in range(len(clients))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert [i for i, items in seen.items() if "starting" in items] == []
        assert all(
            [e.event for e in items if isinstance(e, SSEEvent)][:2] == ["blocks", "tail"]
            for items in seen.values()
        )
    finally:
        for i, answer in answers.items():
            clients[i].post(f"/m/{answer}/stop", {"seen": ""})
        for c in clients:
            c.close()
