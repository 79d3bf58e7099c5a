"""Two real daphne processes sharing PostgreSQL and Redis: any process serves
any subscriber, and a Stop reaches the process that owns the run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.support.client import SpoolClient, count
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.services import POSTGRES, REDIS, require_service
from tests.test_views_stream import PageModel

pytestmark = pytest.mark.services
ADMIN_URL = "postgresql://root@127.0.0.1:5432/postgres"
# Short enough to test abandonment, long enough for a subscriber to connect.
GRACE_S = 3.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory, fake_llm) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    require_service("PostgreSQL", POSTGRES)
    require_service("Redis", REDIS)
    import psycopg

    name = f"spool_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = spool_env(
        fake_llm,
        DATABASE_URL=f"postgresql://root@127.0.0.1:5432/{name}",
        REDIS_URL="redis://127.0.0.1:6379/0",
        SPOOL_SECRET_KEY="shared-by-both-processes-" + uuid.uuid4().hex,
        SPOOL_DETACH_GRACE_S=str(GRACE_S),
    )
    try:
        with (
            run_daphne(tmp_path_factory.mktemp("a"), env) as a,
            run_daphne(tmp_path_factory.mktemp("b"), env) as b,
        ):
            yield a, b
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def on(server: DaphneServer, user: SpoolClient) -> SpoolClient:
    """The same browser session, talking to another process."""
    twin = SpoolClient(server.url)
    twin.http.cookies.update(user.http.cookies)
    return twin


def test_another_process_serves_the_stream(pair) -> None:
    a, b = pair
    user = SpoolClient(a.url).signup()
    _, mid = user.start_conversation("[long] started on A", model=FAKE_MODEL)
    events = on(b, user).stream_events(mid)
    assert events[0].event == "blocks"
    assert events[-1].event == "done"
    row = a.wait_status(mid, "complete", timeout=20)
    assert PageModel().apply(events).html == row["html"]


def test_resume_on_the_other_process_without_duplicates(pair) -> None:
    a, b = pair
    user = SpoolClient(a.url).signup()
    _, mid = user.start_conversation("[long] cut and resume", model=FAKE_MODEL)
    first = user.stream_until(mid, count("block", 3))
    rest = on(b, user).stream_events(mid, last_event_id=first[-1].id)
    assert "blocks" not in [e.event for e in rest]
    ids = [int(e.id) for e in first + rest if e.id]
    assert len(ids) == len(set(ids))
    row = a.wait_status(mid, "complete", timeout=20)
    assert PageModel().apply(first + rest).html == row["html"]


def test_stop_sent_to_the_other_process_stops_the_owner(pair, fake_llm) -> None:
    a, b = pair
    user = SpoolClient(a.url).signup()
    _, mid = user.start_conversation("[long] stop me from B", model=FAKE_MODEL)
    user_b = on(b, user)
    seen = user_b.stream_until(mid, count("block", 1))[-1].id
    started = time.monotonic()
    r = user_b.post(f"/m/{mid}/stop", {"seen": seen or ""}, headers={"HX-Request": "true"})
    assert r.status_code == 204
    # B answers once the owner has saved the stopped answer.
    row = a.message(mid)
    assert row["status"] == "stopped"
    assert time.monotonic() - started < 5
    assert "Paragraph 0" in row["content"]
    assert "Paragraph 39" not in row["content"]
    # The owner closed the upstream request.
    fake_llm.wait_for_hangup(3, prompt="stop me from B")


def test_a_watcher_on_the_other_process_keeps_the_run_alive(pair) -> None:
    a, b = pair
    user = SpoolClient(a.url).signup()
    _, mid = user.start_conversation("[long] watched from B only", model=FAKE_MODEL)
    events = on(b, user).stream_events(mid)  # ~6 s, twice the grace period
    assert events[-1].event == "done"
    assert a.wait_status(mid, "complete", "interrupted", timeout=20)["status"] == "complete"


def test_an_unwatched_run_is_interrupted_after_the_grace_period(pair, fake_llm) -> None:
    a, _ = pair
    user = SpoolClient(a.url).signup()
    _, mid = user.start_conversation("[long] nobody watches", model=FAKE_MODEL)
    row = a.wait_status(mid, "interrupted", "complete", timeout=GRACE_S + 10)
    assert row["status"] == "interrupted"
    assert row["content"].startswith("Paragraph 0")
