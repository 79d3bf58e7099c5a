"""Any Last-Event-ID, on a finished or a live answer, on either event log:
the stream ends or streams correctly, and the process keeps answering others.

A reconnect just after the last event sends exactly ``Last-Event-ID: <final>``;
a stream that then waited for events that cannot come, without really
waiting, took the whole daphne process (every other request timed out). Each
case here holds its stream open, unread, like a client that does not read,
while it checks that a second request is answered promptly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient, SSEEvent, count, iter_sse
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.services import REDIS, require_service
from tests.test_views_stream import PageModel, names

# Another request on the same process must be answered this fast while the
# stream is open (it takes ~10 ms on an idle machine).
PROMPT_ANSWER_S = 0.2
# A stream that should end has this long to do so.
END_WITHIN_S = 20.0

# Ids that are not offsets the log gave out; each starts the page afresh.
NOT_AN_OFFSET = ["-1", "abc", "1e3", str(10**30)]


@pytest.fixture(
    scope="module", params=["memory", pytest.param("redis", marks=pytest.mark.services)]
)
def server(
    request: pytest.FixtureRequest,
    spool_server: DaphneServer,
    tmp_path_factory: pytest.TempPathFactory,
    fake_llm: FakeOpenAIServer,
) -> Iterator[DaphneServer]:
    if request.param == "memory":
        yield spool_server
        return
    require_service("Redis", REDIS)
    tmp: Path = tmp_path_factory.mktemp("daphne-redis")
    env = spool_env(
        fake_llm,
        REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/0",
        # Several live answers per test, from one user.
        SPOOL_MAX_CONCURRENT_RUNS="8",
        SPOOL_MAX_SENDS_PER_MINUTE="100",
    )
    with run_daphne(tmp, env) as redis_server:
        yield redis_server


@pytest.fixture
def user(server: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(server.url).signup()
    yield c
    c.close()


class OpenStream:
    """A stream request held open on its own connection, read only on demand."""

    def __init__(
        self, user: SpoolClient, message_id: str, last_event_id: str | None, *, query: bool = False
    ) -> None:
        """``query``: send the id as ``?after=`` (as a script would), not as the header."""
        self.http = httpx.Client(base_url=str(user.http.base_url), timeout=END_WITHIN_S)
        self.http.cookies.update(user.http.cookies)
        headers = {"Accept": "text/event-stream"}
        params = {}
        if last_event_id is not None and query:
            params["after"] = last_event_id
        elif last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        request = self.http.build_request(
            "GET", f"/m/{message_id}/stream", headers=headers, params=params
        )
        self.response = self.http.send(request, stream=True)
        assert self.response.status_code == 200

    def read_to_end(self) -> list[SSEEvent]:
        """Every event until the server ends the stream; fails if it does not end."""
        events: list[SSEEvent] = []
        deadline = time.monotonic() + END_WITHIN_S
        for item in iter_sse(self.response):
            assert time.monotonic() < deadline, f"the stream did not end: {names(events)}"
            if isinstance(item, SSEEvent):
                events.append(item)
        return events

    def close(self) -> None:
        self.response.close()
        self.http.close()


def assert_process_answers(user: SpoolClient) -> None:
    """A second request on the same process, answered promptly (three in a row)."""
    with httpx.Client(base_url=str(user.http.base_url), timeout=END_WITHIN_S) as other:
        for _ in range(3):
            started = time.monotonic()
            r = other.get("/accounts/login/")
            took = time.monotonic() - started
            assert r.status_code == 200
            assert took < PROMPT_ANSWER_S, f"another request took {took * 1000:.0f} ms"


def finished_answer(user: SpoolClient, server: DaphneServer) -> tuple[str, list[SSEEvent]]:
    """A finished answer still in the log, and the whole stream a page saw."""
    _, mid = user.start_conversation("a short one", model=FAKE_MODEL)
    events = user.stream_events(mid)
    assert names(events)[-1] == "done"
    server.wait_status(mid, "complete")
    return mid, events


def held(
    user: SpoolClient, mid: str, last_event_id: str | None, *, query: bool = False
) -> list[SSEEvent]:
    """Open the stream, check the process while it is open and unread, then read it."""
    stream = OpenStream(user, mid, last_event_id, query=query)
    try:
        assert_process_answers(user)
        return stream.read_to_end()
    finally:
        stream.close()


@pytest.mark.parametrize("query", [False, True], ids=["header", "after-param"])
def test_reconnect_at_the_final_event_gets_done_at_once(user, server, query) -> None:
    mid, first = finished_answer(user, server)
    final_id = first[-1].id
    assert final_id is not None
    started = time.monotonic()
    events = held(user, mid, final_id, query=query)
    assert names(events) == ["done"], "nothing is replayed or announced again"
    assert events[0].id == final_id
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("beyond", [1, 1000])
def test_an_id_past_the_end_of_a_finished_answer_gets_a_snapshot(user, server, beyond) -> None:
    mid, first = finished_answer(user, server)
    events = held(user, mid, str(int(first[-1].id or 0) + beyond))
    assert names(events) == ["blocks", "tail", "done"]
    assert PageModel().apply(events).html == server.message(mid)["html"]


def test_id_zero_replays_the_whole_finished_answer(user, server) -> None:
    mid, _ = finished_answer(user, server)
    events = held(user, mid, "0")
    assert "blocks" not in names(events), "a replay, not a snapshot"
    assert names(events)[-1] == "done"
    assert PageModel().apply(events).html == server.message(mid)["html"]


@pytest.mark.parametrize("bad_id", [*NOT_AN_OFFSET, "²"])
def test_an_unusable_id_on_a_finished_answer_gets_a_snapshot(user, server, bad_id) -> None:
    mid, _ = finished_answer(user, server)
    # A header must be ASCII; "²" (a digit to str.isdigit) can only come as ?after=.
    events = held(user, mid, bad_id, query=not bad_id.isascii())
    assert names(events) == ["blocks", "tail", "done"]
    assert PageModel().apply(events).html == server.message(mid)["html"]


def test_every_kind_of_id_on_a_live_answer(user, server) -> None:
    """All at once on one live answer: each stream continues (or starts
    afresh) and ends with the whole answer, while the process stays prompt."""
    _, mid = user.start_conversation("[long] many readers", model=FAKE_MODEL)
    applied = user.stream_until(mid, count("tail", 3))
    current = applied[-1].id
    assert current is not None
    cases = {
        "current": current,
        "past": str(int(current) + 1000),
        "zero": "0",
        **{f"bad {i}": bad for i, bad in enumerate(NOT_AN_OFFSET)},
    }
    streams = {name: OpenStream(user, mid, last_id) for name, last_id in cases.items()}
    try:
        assert_process_answers(user)
        results: dict[str, list[SSEEvent]] = {}
        threads = [
            threading.Thread(target=lambda n=name, s=s: results.__setitem__(n, s.read_to_end()))
            for name, s in streams.items()
        ]
        for t in threads:
            t.start()
        assert_process_answers(user)
        for t in threads:
            t.join(END_WITHIN_S + 5)
    finally:
        for s in streams.values():
            s.close()
    assert set(results) == set(cases), f"streams that never ended: {set(cases) - set(results)}"
    saved = server.wait_status(mid, "complete")["html"]
    assert PageModel().apply(applied + results["current"]).html == saved
    assert names(results["current"])[0] != "blocks", "a resume continues, no snapshot"
    assert "blocks" not in names(results["zero"]), "a replay from the start"
    assert PageModel().apply(results["zero"]).html == saved
    for name in ["past", *(n for n in cases if n.startswith("bad"))]:
        assert names(results[name])[:2] == ["blocks", "tail"], f"{name}: starts with a snapshot"
        assert PageModel().apply(results[name]).html == saved, name
    for events in results.values():
        assert names(events)[-1] == "done"
