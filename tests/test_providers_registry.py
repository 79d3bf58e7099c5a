"""streaming/providers/registry.py: the model server's provider is built once
per process and its pooled connections are closed at shutdown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from streaming.providers import registry
from streaming.providers.base import ChatMessage, TextDelta
from streaming.providers.openai_compat import OpenAICompatProvider
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script

MODEL = "fake-model"


@pytest.fixture
def configured(openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    with override_settings(
        SPOOL_LLM_BASE_URL=openai_server.base_url, SPOOL_LLM_API_KEY="", SPOOL_LLM_MODELS=[MODEL]
    ):
        registry._openai_provider.cache_clear()
        yield openai_server
    registry._openai_provider.cache_clear()


async def test_aclose_providers_closes_the_pooled_connection(
    configured: FakeOpenAIServer,
) -> None:
    configured.enqueue(Script.text("hello"))
    provider = registry.provider_for(MODEL)
    assert isinstance(provider, OpenAICompatProvider)
    assert registry.provider_for(MODEL) is provider, "one provider per process"
    stream = provider.stream(messages=[ChatMessage("user", "hi")], model=MODEL)
    texts = [e.text async for e in stream if isinstance(e, TextDelta)]
    assert "".join(texts) == "hello"
    client = provider._client
    assert client is not None
    assert not client.is_closed()

    await registry.aclose_providers()

    assert client.is_closed()


async def test_aclose_providers_with_none_built_does_nothing(
    configured: FakeOpenAIServer,
) -> None:
    await registry.aclose_providers()
    assert registry._openai_provider.cache_info().currsize == 0
    assert configured.requests == []


def test_the_demo_model_always_takes_a_prefill(configured: FakeOpenAIServer) -> None:
    assert registry.takes_prefill("demo")
    assert not registry.takes_prefill(MODEL)


def test_a_served_model_takes_a_prefill_when_the_setting_says_how(
    configured: FakeOpenAIServer,
) -> None:
    with override_settings(SPOOL_LLM_PREFILL="vllm"):
        registry._openai_provider.cache_clear()
        assert registry.takes_prefill(MODEL)
        assert not registry.takes_prefill("unknown-model")
        provider = registry.provider_for(MODEL)
        assert isinstance(provider, OpenAICompatProvider)
        assert provider.prefill == "vllm"
