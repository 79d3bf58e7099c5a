"""chatapp/shutdown.py: SIGTERM to a real daphne process mid-answer.

Live answers finish within ``SPOOL_SHUTDOWN_GRACE_S`` or are saved
``interrupted`` with their text; a send after the signal is refused with a
503 that says why; nothing is left ``streaming`` or ``pending``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.stream_servers import procfile_web
from streaming.providers.demo import bench_words
from tests.conftest import FAKE_MODEL, LONG_ANSWER, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient, SSEEvent
from tests.support.commands import UVICORN, run_command
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.services import REDIS, require_service

# The demo model's [bench:N] answer: N numbered words, one every DELAY_S.
DELAY_S = 0.02
# Daphne's own teardown (closing connections, joining threads) after the
# grace: well under a second here, a few on a loaded CI machine.
EXIT_SLACK_S = 4.0


def _env(grace_s: float, **extra: str) -> dict[str, str]:
    return {
        "SPOOL_DEMO_TOKEN_DELAY_S": str(DELAY_S),
        "SPOOL_SHUTDOWN_GRACE_S": str(grace_s),
        "SPOOL_DETACH_GRACE_S": "30",
        **extra,
    }


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


def _answer(words: int) -> str:
    return "".join(bench_words(words))


def _sigterm_and_wait(server: DaphneServer) -> float:
    """Seconds from SIGTERM until the process has exited."""
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)
    return time.monotonic() - sent


def _wait_content(server: DaphneServer, message_id: str, timeout: float = 10) -> None:
    """Until the run has checkpointed some text (it is mid-answer)."""
    deadline = time.monotonic() + timeout
    while not server.message(message_id)["content"]:
        assert time.monotonic() < deadline, "no text checkpointed"
        time.sleep(0.05)


def _left_live(server: DaphneServer) -> int:
    rows = server.query(
        "SELECT COUNT(*) AS n FROM chatapp_message WHERE status IN ('pending', 'streaming')"
    )
    return int(rows[0]["n"])


@pytest.fixture
def short_grace(tmp: Path) -> Iterator[DaphneServer]:
    with run_daphne(tmp, _env(1.0)) as server:
        yield server


@pytest.fixture(
    params=["daphne", "procfile", "uvicorn", pytest.param("redis", marks=pytest.mark.services)]
)
def any_server(request: pytest.FixtureRequest, tmp: Path) -> Iterator[DaphneServer]:
    """Spool with a 1 s grace as each server runs it: daphne as the tests start
    it, the Procfile's ``web:`` line under ``sh -c`` (the signal goes to the
    shell's process), uvicorn (ASGI lifespan), and daphne with the Redis
    event log (the run's final event and the log's close go through Redis)."""
    if request.param in ("daphne", "redis"):
        extra = {}
        if request.param == "redis":
            require_service("Redis", REDIS)
            extra["REDIS_URL"] = f"redis://{REDIS[0]}:{REDIS[1]}/0"
        with run_daphne(tmp, _env(1.0, **extra)) as server:
            yield server
        return
    command = procfile_web() if request.param == "procfile" else UVICORN
    with run_command(tmp, _env(1.0), command) as server:
        yield server


def test_answer_longer_than_grace_is_saved_interrupted_with_its_text(
    any_server: DaphneServer,
) -> None:
    server = any_server
    client = SpoolClient(server.url).signup()
    words = 400  # 8 s of answer against a 1 s grace
    _, message_id = client.start_conversation(f"[bench:{words}]")
    _wait_content(server, message_id)

    took = _sigterm_and_wait(server)

    assert 1.0 <= took < 1.0 + EXIT_SLACK_S, took
    row = server.message(message_id)
    assert row["status"] == "interrupted"
    full = _answer(words)
    assert row["content"], "the partial answer was not saved"
    assert full.startswith(row["content"])
    assert len(row["content"]) < len(full)
    assert _left_live(server) == 0
    client.close()


def test_answer_within_grace_completes_before_exit(tmp: Path) -> None:
    # A short detach grace: daphne drops the page's stream at SIGTERM, and the
    # run must still get the whole shutdown grace, not the detach one.
    with run_daphne(tmp, _env(10.0, SPOOL_DETACH_GRACE_S="0.3")) as server:
        client = SpoolClient(server.url).signup()
        words = 100  # 2 s of answer against a 10 s grace
        _, message_id = client.start_conversation(f"[bench:{words}]")
        seen: list[SSEEvent] = []
        reader = threading.Thread(target=_read_stream, args=(client, message_id, seen))
        reader.start()
        deadline = time.monotonic() + 10
        while not seen:  # the page is following the answer
            assert time.monotonic() < deadline, "the page's stream never got an event"
            time.sleep(0.05)

        took = _sigterm_and_wait(server)
        reader.join(timeout=10)

        row = server.message(message_id)
        assert row["status"] == "complete", row["status"]
        assert row["content"] == _answer(words)
        # It waited for the answer, not for the whole grace.
        assert took < 10.0, took
        assert _left_live(server) == 0
        client.close()


def _read_stream(client: SpoolClient, message_id: str, seen: list[SSEEvent]) -> None:
    """A page's stream, read until the server drops it at shutdown."""
    try:
        for item in client.stream(message_id):
            if isinstance(item, SSEEvent):
                seen.append(item)
    except httpx.HTTPError:
        pass  # the drop at shutdown is the expected end


def test_send_after_sigterm_is_refused_with_the_reason(tmp: Path) -> None:
    with run_daphne(tmp, _env(3.0)) as server:
        client = SpoolClient(server.url).signup()
        path, message_id = client.start_conversation("[bench:400]")
        _wait_content(server, message_id)
        before = server.query("SELECT COUNT(*) AS n FROM chatapp_message")[0]["n"]
        sent = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the reactor handles the signal on its next turn

        fragment = client.send(path, "a question during the restart")
        page = client.post("/c/new", {"text": "keep this text", "model": "demo"})

        assert fragment.status_code == 503
        assert "Spool is restarting" in fragment.text
        assert fragment.headers["HX-Retarget"] == "#composer-error"
        assert page.status_code == 503
        assert "Spool is restarting" in page.text
        assert "keep this text" in page.text
        # Refused before anything was written.
        assert server.query("SELECT COUNT(*) AS n FROM chatapp_message")[0]["n"] == before

        server.process.wait(timeout=60)
        assert time.monotonic() - sent < 3.0 + EXIT_SLACK_S
        assert server.message(message_id)["status"] == "interrupted"
        assert _left_live(server) == 0
        client.close()


def test_stream_accounting_is_written_before_exit(short_grace: DaphneServer) -> None:
    server = short_grace
    client = SpoolClient(server.url).signup()
    _, message_id = client.start_conversation("[bench:5]")
    events = client.stream_events(message_id)  # recorded as the stream ends
    assert events

    _sigterm_and_wait(server)

    # The background flush would have written it 2 s later, after the exit.
    assert server.message(message_id)["bytes_sent"] > 0
    client.close()


def test_model_server_answer_is_cut_upstream_and_saved(
    tmp: Path, fake_llm: FakeOpenAIServer
) -> None:
    with run_daphne(tmp, spool_env(fake_llm, SPOOL_SHUTDOWN_GRACE_S="1")) as server:
        client = SpoolClient(server.url).signup()
        prompt = f"[long] shutdown {time.monotonic_ns()}"
        _, message_id = client.start_conversation(prompt, model=FAKE_MODEL)
        _wait_content(server, message_id)

        took = _sigterm_and_wait(server)

        assert took < 1.0 + EXIT_SLACK_S, took
        fake_llm.wait_for_hangup(prompt=prompt)
        row = server.message(message_id)
        assert row["status"] == "interrupted"
        assert row["content"]
        assert LONG_ANSWER.startswith(row["content"])
        assert "shutdown: every run saved" in server.log()
        client.close()
