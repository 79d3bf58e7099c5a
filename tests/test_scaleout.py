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
# What docs/operations.md promises for a Stop: the model server sees the
# hang-up within this of the request...
STOP_HANGUP_S = 0.25
# ...and the request returns once the stopped answer is saved (a few database
# and Redis round trips more; far under the 10 s it could once wait).
STOP_RETURN_S = 1.0


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
            for server in (a, b):
                warm_up(server)
            yield a, b
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def warm_up(server: DaphneServer) -> None:
    """A fresh process's first stream pays for imports, templates and pools:
    on a loaded machine more than GRACE_S, which would detach a run that the
    process's first subscriber is about to watch."""
    user = SpoolClient(server.url).signup()
    _, mid = user.start_conversation("warming up", model=FAKE_MODEL)
    assert user.stream_events(mid)[-1].event == "done"
    user.close()


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


@pytest.mark.parametrize("to", ["the other process", "the owner"])
def test_stop_reaches_the_owner_at_once_and_returns_after_its_answer(
    pair, fake_llm, to: str
) -> None:
    a, b = pair
    user = SpoolClient(a.url).signup()
    prompt = f"[long] stop me from {to} {uuid.uuid4().hex[:6]}"
    _, mid = user.start_conversation(prompt, model=FAKE_MODEL)
    stopper = on(b if to == "the other process" else a, user)
    seen = stopper.stream_until(mid, count("block", 1))[-1].id
    started = time.monotonic()
    r = stopper.post(f"/m/{mid}/stop", {"seen": seen or ""}, headers={"HX-Request": "true"})
    returned = time.monotonic() - started
    assert r.status_code == 204
    # The POST returns once the owner has acknowledged, after its answer is saved.
    row = a.message(mid)
    assert row["status"] == "stopped"
    assert "Paragraph 0" in row["content"]
    assert "Paragraph 39" not in row["content"]
    # The owner closed the upstream request: no polling delay on the way.
    hung_up = fake_llm.wait_for_hangup(3, prompt=prompt).hung_up_at
    assert hung_up is not None
    print(
        f"\nStop to {to}: upstream hang-up {(hung_up - started) * 1000:.0f} ms, "
        f"POST returned {returned * 1000:.0f} ms after it was sent"
    )
    assert hung_up - started < STOP_HANGUP_S
    assert returned < STOP_RETURN_S


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
