"""Pytest fixtures for the fake OpenAI server.

The main conftest imports them: ``from tests.fakes.fixtures import openai_server  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A fresh fake server per test on a free loopback port, stopped afterwards.

    Use ``openai_server.base_url`` as the OpenAI base URL (``…/v1``).
    """
    with FakeOpenAIServer() as server:
        yield server
