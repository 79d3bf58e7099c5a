"""Shared fixtures: event logs, the fake model server, a real daphne server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fixtures import openai_server  # noqa: F401
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient
from tests.support.daphne import DaphneServer, run_daphne
from tests.support.eventlogs import make_log  # noqa: F401

# Model names the daphne server is configured with (served by the fake server).
FAKE_MODEL = "fake-model"

# A long answer at a steady pace, so tests can act while it streams (~6 s).
LONG_ANSWER = "\n\n".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog, again and again."
    for i in range(40)
)
SLOW_SCRIPT = Script.text(LONG_ANSWER, chunk_size=8, delay=0.02, name="long")
# Fails after ~0.5 s, so a subscriber is connected when it happens.
LATE_ERROR_SCRIPT = Script.text(
    "Half an answer", chunk_size=3, delay=0.1, finish=None, name="late_error"
).then_stream_error("Upstream model crashed")
CODE_SCRIPT = Script.text(
    "Here is code:\n\n```python\n" + "".join(f"x{i} = {i}  # line {i}\n" for i in range(60)),
    chunk_size=6, delay=0.05, finish=None, name="open_fence",
).then_stall(30)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running
    in the main thread for the rest of the session, and pytest-asyncio cannot
    start its own loops after that."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeOpenAIServer]:
    """One fake model server for the daphne server; scenarios picked by keyword."""
    with FakeOpenAIServer(models=(FAKE_MODEL,)) as server:
        server.use_keywords()
        server.when("[long]", SLOW_SCRIPT)
        server.when("[code]", CODE_SCRIPT)
        server.when("[late-error]", LATE_ERROR_SCRIPT)
        yield server


def spool_env(fake_llm: FakeOpenAIServer, **extra: str) -> dict[str, str]:
    return {
        "SPOOL_LLM_BASE_URL": fake_llm.base_url,
        "SPOOL_LLM_MODELS": FAKE_MODEL,
        "SPOOL_DEMO_TOKEN_DELAY_S": "0.002",
        "SPOOL_IDLE_TIMEOUT_S": "3",
        "SPOOL_DETACH_GRACE_S": "30",
        **extra,
    }


@pytest.fixture(scope="session")
def spool_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("daphne")
    with run_daphne(tmp, spool_env(fake_llm)) as server:
        yield server


@pytest.fixture
def client(spool_server: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool_server.url).signup()
    yield c
    c.close()


@pytest.fixture
def other_client(spool_server: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool_server.url).signup()
    yield c
    c.close()
