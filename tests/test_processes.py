"""chatapp/processes.py: two real daphne processes on one SQLite file, each
with its own memory log. Neither takes the other's live answer for a crash
leftover; once one is killed, the other knows its answers are leftovers."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient
from tests.support.daphne import DaphneServer, run_daphne


@pytest.fixture
def two_on_one_file(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> Iterator[tuple[DaphneServer, DaphneServer]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = spool_env(
        fake_llm,
        SPOOL_SQLITE_PATH=str(tmp_path / "shared.sqlite3"),
        SPOOL_SECRET_KEY="one-key-for-both-" + uuid.uuid4().hex,
    )
    with run_daphne(tmp_path / "a", env) as a, run_daphne(tmp_path / "b", env) as b:
        a.db_path = b.db_path = tmp_path / "shared.sqlite3"  # where the tests read rows
        yield a, b


def on(server: DaphneServer, user: SpoolClient) -> SpoolClient:
    twin = SpoolClient(server.url)
    twin.http.cookies.update(user.http.cookies)
    return twin


def test_another_process_does_not_take_a_live_answer_for_a_leftover(two_on_one_file) -> None:
    a, b = two_on_one_file
    user = SpoolClient(a.url).signup()
    path, mid = user.start_conversation("[long] running on A", model=FAKE_MODEL)
    a.wait_status(mid, "streaming")
    page = on(b, user).http.get(path)  # B has no log of it: not B's to judge
    assert page.status_code == 200
    assert a.message(mid)["status"] == "streaming"
    assert a.wait_status(mid, "complete", "interrupted", timeout=20)["status"] == "complete"


def test_when_the_other_process_dies_its_answer_is_a_leftover_at_once(two_on_one_file) -> None:
    a, b = two_on_one_file
    user = SpoolClient(a.url).signup()
    path, mid = user.start_conversation("[long] A dies", model=FAKE_MODEL)
    a.wait_status(mid, "streaming")
    a.process.send_signal(signal.SIGKILL)
    a.process.wait(10)
    assert on(b, user).http.get(path).status_code == 200
    row = b.message(mid)
    assert (row["status"], row["error_code"]) == ("interrupted", "interrupted")
