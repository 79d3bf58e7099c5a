"""The JSON stream through a real daphne server: a program's client (httpx, a
spec-following SSE parser, NDJSON lines) rebuilds exactly the saved text,
from the start and from any resume point, on the memory and the Redis log."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.json_stream import JsonEvent, Text, iter_sse, open_events, read_events
from tests.support.services import REDIS, require_service

FINISHED = ("complete", "stopped", "failed", "interrupted", "truncated")
# Ids that are not offsets any log gave out: each starts afresh with a snapshot.
NOT_AN_OFFSET = ["-1", "abc", "1e3", str(10**30)]
# Long enough to outlast a server restart (the wait is kept as a moment).
RETRY_AFTER_S = 60


@pytest.fixture(scope="module", autouse=True)
def rate_limited(fake_llm: FakeOpenAIServer) -> None:
    """Prompts with "[json-429]" get the model server's rate limit, with its wait."""
    fake_llm.when(
        "[json-429]",
        Script.http_error(
            429, "Rate limit reached.", code="rate_limit_exceeded",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ),
    )  # fmt: skip


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
    env = spool_env(
        fake_llm,
        REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/0",
        SPOOL_MAX_CONCURRENT_RUNS="8",
        SPOOL_MAX_SENDS_PER_MINUTE="100",
    )
    with run_daphne(tmp_path_factory.mktemp("daphne-redis"), env) as redis_server:
        yield redis_server


@pytest.fixture
def user(server: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(server.url).signup()
    yield c
    c.close()


def names(events: list[JsonEvent]) -> list[str]:
    return [e.event for e in events]


def finished_answer(
    user: SpoolClient, server: DaphneServer, prompt: str = "[long] a whole answer"
) -> tuple[str, list[JsonEvent], str]:
    """(message id, every event of one live reading, the saved content)."""
    _, mid = user.start_conversation(prompt, model=FAKE_MODEL)
    events = read_events(user.http, mid)
    assert names(events)[-1] == "final"
    content = server.wait_status(mid, *FINISHED, timeout=20)["content"]
    return mid, events, content


def test_the_events_rebuild_the_saved_text_exactly(user, server) -> None:
    _, events, content = finished_answer(user, server)
    assert names(events)[0] == "snapshot", "a new reader starts from a snapshot"
    assert {"delta", "usage", "final"} <= set(names(events))
    assert len(content) > 2000
    assert Text().apply(events).text == content
    # Every event carries its offset, strictly increasing: one event per offset.
    ids = [e.id for e in events]
    assert None not in ids
    assert ids == sorted(set(ids))  # type: ignore[type-var]
    final = events[-1].data
    assert final["status"] == "complete"
    assert final["finish_reason"] == "stop"
    assert final["error"] is None
    assert final["metrics"]["ttft_ms"] is not None
    assert next(e for e in events if e.event == "usage").data == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
    }


def test_the_demo_models_markdown_rebuilds_exactly(user, server) -> None:
    for prompt in ("Show me a table please", "Some code please"):
        _, mid = user.start_conversation(prompt, model="demo")
        events = read_events(user.http, mid)
        row = server.wait_status(mid, "complete")
        assert "<table>" in row["html"] or "<pre>" in row["html"]
        assert Text().apply(events).text == row["content"]


@pytest.mark.parametrize("how", ["header", "after-param"])
def test_resume_after_every_offset_of_a_finished_answer(user, server, how) -> None:
    """A reader that holds the events up to any offset and resumes there ends
    with the saved text, never receiving an offset twice."""
    mid, _, content = finished_answer(user, server, "[long] resume me anywhere")
    whole = read_events(user.http, mid, after="0")
    assert names(whole)[:2] == ["status", "delta"], "id 0 replays from the start"
    assert whole[0].data == {"state": "streaming"}
    assert Text().apply(whole).text == content
    ids = [e.id for e in whole if e.id is not None]
    final_id = whole[-1].id
    assert final_id is not None
    # The start, a few in the middle, the last delta, the final event.
    last_delta = max(e.id or 0 for e in whole if e.event == "delta")
    points = sorted({0, ids[1], ids[len(ids) // 3], ids[len(ids) // 2], last_delta, final_id})
    for after in points:
        held = Text().apply([e for e in whole if (e.id or 0) <= after])
        kw = {"last_event_id": str(after)} if how == "header" else {"after": str(after)}
        rest = read_events(user.http, mid, **kw)  # type: ignore[arg-type]
        assert all((e.id or 0) > after for e in rest if e.event != "final"), after
        assert names(rest)[-1] == "final", after
        assert held.apply(rest).text == content, f"resumed after {after}"
    # At the final event: only final again, nothing replayed.
    assert names(read_events(user.http, mid, last_event_id=str(final_id))) == ["final"]


def test_an_unusable_id_starts_afresh_with_a_snapshot(user, server) -> None:
    mid, events, content = finished_answer(user, server, "[long] bad ids")
    past_the_end = str((events[-1].id or 0) + 1)
    for bad in [*NOT_AN_OFFSET, past_the_end]:
        rest = read_events(user.http, mid, after=bad)
        assert names(rest)[0] == "snapshot", bad
        assert names(rest)[-1] == "final", bad
        # Whatever the client held is replaced by the snapshot.
        junk = JsonEvent(1, "delta", {"text": "junk"})
        assert Text().apply([junk, *rest]).text == content, bad


@pytest.mark.parametrize("how", ["header", "after-param"])
def test_resume_mid_answer_continues_without_duplicates(user, server, how) -> None:
    _, mid = user.start_conversation("[long] cut me twice", model=FAKE_MODEL)
    held: list[JsonEvent] = []
    for _ in range(2):  # two cuts while the answer streams
        last = str(held[-1].id) if held else None
        kw = {"last_event_id": last} if how == "header" else {"after": last}
        response = open_events(user.http, mid, **kw)  # type: ignore[arg-type]
        try:
            deltas = 0
            for e in iter_sse(response):
                held.append(e)
                deltas += e.event == "delta"
                if deltas == 10:
                    break  # the network "drops"
        finally:
            response.close()
    rest = read_events(user.http, mid, last_event_id=str(held[-1].id))
    ids = [e.id for e in held + rest]
    assert len(ids) == len(set(ids)), "an offset was delivered twice"
    assert names(held).count("snapshot") == 1
    assert "snapshot" not in names(rest)
    content = server.wait_status(mid, "complete", timeout=20)["content"]
    assert Text().apply(held + rest).text == content


def test_ndjson_gives_the_same_events(user, server) -> None:
    mid, _, content = finished_answer(user, server, "[long] as ndjson")
    as_sse = read_events(user.http, mid, after="0")
    as_ndjson = read_events(user.http, mid, after="0", ndjson=True)
    assert as_ndjson == as_sse
    assert Text().apply(as_ndjson).text == content
    resumed = read_events(user.http, mid, last_event_id=str(as_sse[3].id), ndjson=True)
    assert resumed == [e for e in as_sse if (e.id or 0) > (as_sse[3].id or 0)]


def test_ndjson_live_with_one_object_a_line(user, server) -> None:
    _, mid = user.start_conversation("[long] live ndjson", model=FAKE_MODEL)
    response = open_events(user.http, mid, ndjson=True)
    try:
        assert response.headers["content-type"] == "application/x-ndjson; charset=utf-8"
        assert response.headers["x-accel-buffering"] == "no"
        lines = list(response.iter_lines())
    finally:
        response.close()
    objects = [json.loads(line) for line in lines]
    assert all(set(o) == {"id", "event", "data"} for o in objects)
    events = [JsonEvent(o["id"], o["event"], o["data"]) for o in objects]
    assert names(events)[0] == "snapshot"
    assert names(events)[-1] == "final"
    assert Text().apply(events).text == server.wait_status(mid, "complete")["content"]


def test_only_the_owner_gets_the_events(user, server) -> None:
    _, mid = user.start_conversation("hello", model="demo")
    other = SpoolClient(server.url).signup()
    with httpx.Client(base_url=server.url) as anonymous:
        for http in (other.http, anonymous):
            r = http.get(f"/m/{mid}/events", headers={"Accept": "text/event-stream"})
            assert r.status_code == 404, "not a redirect, not a hint that it exists"
    r = user.http.get(f"/m/{uuid.uuid4()}/events")
    assert r.status_code == 404
    other.close()


def test_a_rate_limit_is_a_retryable_error_with_its_wait(user, server) -> None:
    mid, events, content = finished_answer(user, server, "[json-429] too many")
    final = events[-1].data
    assert final["status"] == "failed"
    error = final["error"]
    assert error == {
        "code": "rate_limit",
        "message": error["message"],
        "retryable": True,
        "retry_after": RETRY_AFTER_S,
    }
    assert error["message"] == f"The model is rate-limited. Try again in {RETRY_AFTER_S} seconds."
    assert Text().apply(events).text == content == ""
    # A reader that was there all along read it as its own event too.
    replay = read_events(user.http, mid, after="0")
    assert names(replay)[-2:] == ["error", "final"]
    assert replay[-2].data == error


def test_stop_clamps_the_text_and_the_stream_says_so(user, server) -> None:
    """Stop keeps what the reader had at the id it sent: a snapshot of that text
    follows the deltas already in flight."""
    _, mid = user.start_conversation("[long] stop the program", model=FAKE_MODEL)
    response = open_events(user.http, mid)
    try:
        stream = iter_sse(response)
        held = []
        for e in stream:
            held.append(e)
            if names(held).count("delta") == 8:
                break
        seen = held[-1].id
        r = user.post(f"/m/{mid}/stop", {"seen": str(seen)}, headers={"HX-Request": "true"})
        assert r.status_code == 204
        rest = list(stream)
    finally:
        response.close()
    row = server.wait_status(mid, "stopped")
    assert rest[-1].data["status"] == "stopped"
    assert row["content"] == Text().apply(held).text, "clamped to what the reader had"
    assert Text().apply(held + rest).text == row["content"]


def test_a_finished_answer_the_log_no_longer_holds_comes_from_the_database(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    """After a restart the memory log is empty: snapshot and final, at once."""
    env = spool_env(fake_llm, SPOOL_SECRET_KEY="json-restart-" + uuid.uuid4().hex)
    with run_daphne(tmp_path, env) as first:
        user = SpoolClient(first.url).signup()
        _, done = user.start_conversation("hello there", model="demo")
        read_events(user.http, done)
        row = first.wait_status(done, "complete")
        _, failed = user.start_conversation("[json-429] and fail", model=FAKE_MODEL)
        read_events(user.http, failed)
        first.wait_status(failed, "failed")
        cookies = user.http.cookies
    with (
        run_daphne(tmp_path, env) as second,
        httpx.Client(base_url=second.url, cookies=cookies, timeout=10) as http,
    ):
        for last in (None, "0", "57"):
            events = read_events(http, done, last_event_id=last)
            assert names(events) == ["snapshot", "final"]
            assert [e.id for e in events] == [0, 0]
            assert events[0].data == {"text": row["content"]}
            assert events[1].data["status"] == "complete"
            assert events[1].data["metrics"]["ttft_ms"] == row["ttft_ms"]
        events = read_events(http, failed, ndjson=True)
        assert names(events) == ["snapshot", "error", "final"]
        error = events[1].data
        assert (error["code"], error["retryable"]) == ("rate_limit", True)
        assert 0 < error["retry_after"] <= RETRY_AFTER_S
        assert events[2].data["error"] == error
