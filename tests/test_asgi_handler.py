"""chatapp/asgi_handler.py: requests' sync work on a fixed pool of threads that
keep their database connections."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import signals
from django.db import close_old_connections, connections
from django.dispatch import Signal

from chatapp.asgi_handler import RequestThreads, SpoolASGIHandler
from tests.conftest import spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.client import SpoolClient
from tests.support.daphne import run_daphne

REQUEST_THREADS = 3


def thread_ids(pid: int) -> set[int]:
    return {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}


def test_requests_reuse_the_pool_threads(tmp_path: Path, fake_llm: FakeOpenAIServer) -> None:
    """Under daphne, page loads start at most the pool's threads: before the
    pool, each request's first ``sync_to_async`` started one (and the event
    loop waited for it to run)."""
    env = spool_env(fake_llm, SPOOL_REQUEST_THREADS=str(REQUEST_THREADS))
    with run_daphne(tmp_path, env) as server:
        client = SpoolClient(server.url).signup()
        try:
            assert client.http.get("/").status_code == 200  # imports, first connections
            before = thread_ids(server.process.pid)
            seen: set[int] = set()
            for _ in range(30):
                assert client.http.get("/").status_code == 200
                seen |= thread_ids(server.process.pid)
        finally:
            client.close()
        # Threads of the pool not yet started, at most: never one per request.
        assert len(seen - before) < REQUEST_THREADS, len(seen - before)


@pytest.fixture
def request_signals() -> Iterator[None]:
    """Django's housekeeping receivers put back after a handler took them off."""
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("request_signals")
def test_the_handler_takes_over_the_request_housekeeping() -> None:
    assert signals.request_started.has_listeners()
    SpoolASGIHandler(1)
    # Each pool call does it on its own thread instead (no hop per request).
    assert close_old_connections not in _receivers(signals.request_started)
    assert close_old_connections not in _receivers(signals.request_finished)


def _receivers(signal: Signal) -> list[object]:
    # Functions are held by weak reference (Signal.connect's default).
    return [r() if isinstance(r, weakref.ref) else r for _key, r, *_ in signal.receivers]


def _connection_id() -> int:
    connection = connections["default"]
    connection.ensure_connection()
    return id(connection.connection)


@pytest.mark.django_db(transaction=True)
def test_a_pool_thread_keeps_its_connection() -> None:
    threads = RequestThreads(1)
    try:
        first = threads.submit(_connection_id).result()
        assert threads.submit(_connection_id).result() == first
    finally:
        threads.shutdown()


@pytest.mark.django_db(transaction=True)
def test_max_age_zero_closes_after_every_call() -> None:
    threads = RequestThreads(1)
    # One settings dict serves every thread's connection of the alias.
    settings_dict = connections["default"].settings_dict
    kept = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    try:
        threads.submit(_connection_id).result()
        # Closed by the call's own housekeeping, on its thread.
        assert threads.submit(lambda: connections["default"].connection).result() is None
    finally:
        settings_dict["CONN_MAX_AGE"] = kept
        threads.shutdown()
