"""chatapp/runtime.py: the app's composition — models by endpoint, one provider per
model built once, keys and options on the right requests, the engine free of Django."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.test import override_settings

from chatapp import runtime
from streaming.providers.base import ChatMessage, ProviderError, TextDelta, Usage
from streaming.providers.demo import DemoProvider
from streaming.providers.openai_compat import OpenAICompatProvider
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script

MODEL = "fake-model"


@pytest.fixture
def legacy(openai_server: FakeOpenAIServer) -> Iterator[FakeOpenAIServer]:
    with override_settings(
        SPOOL_LLM_ENDPOINTS="",
        SPOOL_LLM_BASE_URL=openai_server.base_url,
        SPOOL_LLM_API_KEY="",
        SPOOL_LLM_MODELS=[MODEL],
        SPOOL_DEFAULT_MODEL="",
    ):
        yield openai_server


@pytest.fixture
def second_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=("big-model",), api_key="sk-second", strict_models=True) as s:
        yield s


@pytest.fixture
def two_endpoints(
    openai_server: FakeOpenAIServer,
    second_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    monkeypatch.setenv("SECOND_KEY", "sk-second")
    config = [
        {
            "name": "local",
            "label": "Local",
            "base_url": openai_server.base_url,
            "models": [
                {"name": MODEL, "label": "Fake", "include_usage": False, "extra_body": {"top_k": 5}}
            ],
        },
        {
            "name": "second",
            "label": "Second",
            "base_url": second_server.base_url,
            "api_key_env": "SECOND_KEY",
            "models": [
                {
                    "name": "big-model",
                    "id": "big",
                    "tools": True,
                    "max_output_tokens": 99,
                    "max_tokens_field": "max_completion_tokens",
                }
            ],
        },
    ]
    with override_settings(SPOOL_LLM_ENDPOINTS=json.dumps(config), SPOOL_DEFAULT_MODEL="big"):
        yield openai_server, second_server


async def _text(model_id: str) -> str:
    provider = runtime.provider_for(model_id)
    entry = runtime.model_entry(model_id)
    stream = provider.stream(
        messages=[ChatMessage("user", "hi")],
        model=entry.name,
        max_tokens=entry.options.max_output_tokens,
    )
    return "".join([e.text async for e in stream if isinstance(e, TextDelta)])


def test_single_endpoint_settings_give_one_group_and_the_demo(
    legacy: FakeOpenAIServer,
) -> None:
    groups = runtime.catalogue().groups
    assert [(g.label, [m.id for m in g.models]) for g in groups] == [
        ("Models", [MODEL]),
        ("Offline", ["demo", "demo-thinking"]),
    ]
    assert runtime.default_model() == MODEL
    assert isinstance(runtime.provider_for("demo"), DemoProvider)
    with pytest.raises(LookupError):
        runtime.provider_for("gpt-9")


def test_no_server_configured_offers_the_demo_models_only() -> None:
    with override_settings(SPOOL_LLM_ENDPOINTS="", SPOOL_LLM_BASE_URL="", SPOOL_DEFAULT_MODEL=""):
        assert list(runtime.catalogue().models) == ["demo", "demo-thinking"]
        assert runtime.default_model() == "demo"
    with override_settings(SPOOL_LLM_ENDPOINTS="", SPOOL_DEFAULT_MODEL="gone"):
        assert runtime.default_model() in runtime.catalogue().models


async def test_each_model_goes_to_its_server_with_its_key_and_options(
    two_endpoints: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    local, second = two_endpoints
    local.enqueue(Script.text("from local"))
    second.enqueue(Script.text("from second"))
    assert [g.label for g in runtime.catalogue().groups] == ["Local", "Second", "Offline"]
    assert runtime.default_model() == "big"

    assert await _text(MODEL) == "from local"
    assert await _text("big") == "from second"

    (to_local,) = local.chat_requests
    (to_second,) = second.chat_requests
    assert to_second.headers["authorization"] == "Bearer sk-second"
    assert to_local.headers["authorization"] != "Bearer sk-second"
    assert to_second.body["model"] == "big-model", "the server's name, not the picker's id"
    assert to_local.body["top_k"] == 5, "extra_body reaches the request"
    assert "stream_options" not in to_local.body, "include_usage off"
    assert to_second.body["stream_options"] == {"include_usage": True}
    assert to_second.body["max_completion_tokens"] == 99
    assert "max_tokens" not in to_second.body
    assert "max_tokens" not in to_local.body, "no cap declared: the run's budget applies"
    assert runtime.model_entry("big").options.tools


def test_a_missing_key_variable_is_a_clear_error(
    two_endpoints: tuple[FakeOpenAIServer, FakeOpenAIServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECOND_KEY")
    with pytest.raises(Exception, match="SECOND_KEY"):
        runtime.provider_for("big")


async def test_a_provider_per_model_is_built_once_and_closed_at_shutdown(
    legacy: FakeOpenAIServer,
) -> None:
    legacy.enqueue(Script.text("hello"))
    provider = runtime.provider_for(MODEL)
    assert isinstance(provider, OpenAICompatProvider)
    assert runtime.provider_for(MODEL) is provider, "one provider per model per process"
    assert await _text(MODEL) == "hello"
    client = provider._client
    assert client is not None
    assert not client.is_closed()

    await runtime.aclose_providers()

    assert client.is_closed()


async def test_aclose_providers_with_none_built_does_nothing(legacy: FakeOpenAIServer) -> None:
    await runtime.aclose_providers()
    assert legacy.requests == []


async def test_an_unknown_model_on_a_strict_server_says_so(
    two_endpoints: tuple[FakeOpenAIServer, FakeOpenAIServer],
) -> None:
    _, second = two_endpoints
    provider = runtime.provider_for("big")
    with pytest.raises(ProviderError) as caught:
        async for _ in provider.stream(messages=[ChatMessage("user", "hi")], model="retired"):
            pass
    assert caught.value.code == "not_found"
    assert "“retired”" in caught.value.message
    assert second.chat_requests[0].body["model"] == "retired"


async def test_a_server_refusing_stream_options_is_asked_again_without(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.reject_stream_options = True
    openai_server.enqueue(Script.text("first"), Script.text("second"))
    provider = OpenAICompatProvider(openai_server.base_url, "")
    for expected in ("first", "second"):
        events = [e async for e in provider.stream(messages=[ChatMessage("user", "x")], model="m")]
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == expected
        assert not any(isinstance(e, Usage) for e in events)
    refused, retried, later = openai_server.chat_requests
    assert "stream_options" in refused.body
    assert "stream_options" not in retried.body
    assert "stream_options" not in later.body, "asked once, then remembered"
    assert provider.include_usage is False


def test_the_engine_imports_no_django() -> None:
    code = (
        "import sys, streaming.runs, streaming.providers.openai_compat, "
        "streaming.providers.demo, streaming.eventlog, streaming.tools, streaming.markdown\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_prefill_model_gets_a_provider_that_asks_its_way(
    openai_server: FakeOpenAIServer,
) -> None:
    config = [
        {
            "name": "v",
            "base_url": openai_server.base_url,
            "models": [
                {"name": "cont", "prefill": True, "prefill_style": "vllm"},
                {"name": "plain-model"},
            ],
        }
    ]
    with override_settings(SPOOL_LLM_ENDPOINTS=json.dumps(config)):
        cont = runtime.provider_for("cont")
        plain = runtime.provider_for("plain-model")
        assert isinstance(cont, OpenAICompatProvider)
        assert isinstance(plain, OpenAICompatProvider)
        assert cont.prefill == "vllm"
        assert plain.prefill is None
        assert runtime.model_entry("demo").options.prefill  # the demo model continues itself


@pytest.mark.parametrize(
    ("tool_models", "offered"),
    [([], {"demo"}), (["*"], {"demo", "a", "b"}), (["b"], {"demo", "b"})],
    ids=["none", "all", "listed"],
)
def test_tools_are_offered_as_spool_llm_tool_models_says_and_to_the_demo(
    tool_models: list[str], offered: set[str]
) -> None:
    with override_settings(
        SPOOL_LLM_ENDPOINTS="",
        SPOOL_LLM_BASE_URL="http://127.0.0.1:9/v1",
        SPOOL_LLM_MODELS=["a", "b"],
        SPOOL_LLM_TOOL_MODELS=tool_models,
    ):
        tools = {model: runtime.tools_for(model) for model in ("a", "b", "demo")}
    assert {model for model, registry in tools.items() if registry is not None} == offered
    for registry in tools.values():
        if registry is not None:
            assert [spec.name for spec in registry.specs] == ["calculator", "clock"]
