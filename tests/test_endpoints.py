"""chatapp/endpoints.py: the endpoint configuration is read strictly and says what is wrong."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatapp.endpoints import LEGACY_ENDPOINT, ModelOptions, from_data, legacy, parse

TOML = """
[[endpoints]]
name = "ollama"
label = "Ollama (this machine)"
base_url = "http://127.0.0.1:11434/v1/"
defaults = { tools = true }

[[endpoints.models]]
name = "qwen3:8b"
label = "Qwen3 8B"
context_window = 32768
extra_body = { options = { num_ctx = 32768 } }

[[endpoints.models]]
name = "llama3.2"
tools = false
include_usage = false

[[endpoints]]
name = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
models = ["gpt-4o-mini", { name = "o4-mini", max_output_tokens = 8192, prefill = false }]
"""


def test_a_toml_file(tmp_path: Path) -> None:
    (tmp_path / "endpoints.toml").write_text(TOML)
    ollama, openai = parse("endpoints.toml", base_dir=tmp_path)
    assert (ollama.name, ollama.label, ollama.base_url) == (
        "ollama",
        "Ollama (this machine)",
        "http://127.0.0.1:11434/v1",
    )
    qwen, llama = ollama.models
    assert (qwen.id, qwen.name, qwen.label, qwen.endpoint) == (
        "qwen3:8b",
        "qwen3:8b",
        "Qwen3 8B",
        "ollama",
    )
    assert qwen.options == ModelOptions(
        tools=True, context_window=32768, extra_body={"options": {"num_ctx": 32768}}
    )
    assert llama.options == ModelOptions(tools=False, include_usage=False)
    assert [m.id for m in openai.models] == ["gpt-4o-mini", "o4-mini"]
    assert openai.models[1].options.max_output_tokens == 8192
    assert openai.api_key_env == "OPENAI_API_KEY"


def test_inline_json_and_a_json_file(tmp_path: Path) -> None:
    data = [{"name": "vllm", "base_url": "http://gpu:8000/v1", "models": ["Qwen/Qwen3-32B"]}]
    inline = parse(json.dumps(data))
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"endpoints": data}))
    assert parse(str(path)) == inline
    assert inline[0].models[0].label == "Qwen/Qwen3-32B"


def test_the_same_model_on_two_servers_needs_an_id() -> None:
    both: list[dict[str, object]] = [
        {"name": "a", "base_url": "http://a/v1", "models": ["llama3"]},
        {"name": "b", "base_url": "http://b/v1", "models": ["llama3"]},
    ]
    with pytest.raises(ImproperlyConfigured, match=r"model id 'llama3'.*give one of them an 'id'"):
        parse(json.dumps(both))
    both[1]["models"] = [{"name": "llama3", "id": "llama3-b", "label": "Llama 3 (b)"}]
    _, b = parse(json.dumps(both))
    assert (b.models[0].id, b.models[0].name) == ("llama3-b", "llama3")


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("[]", "non-empty list of endpoints"),
        ("{", "not valid JSON"),
        ('[{"base_url": "http://a/v1", "models": ["m"]}]', "'name' must be a non-empty string"),
        ('[{"name": "a", "models": ["m"]}]', "endpoint 'a': 'base_url'"),
        ('[{"name": "a", "base_url": "ftp://a", "models": ["m"]}]', "http(s) URL"),
        ('[{"name": "a", "base_url": "http://a/v1"}]', "'models' must be a non-empty list"),
        (
            '[{"name": "a", "base_url": "http://a/v1", "models": ["m"], "api_key": "sk-1"}]',
            "keys never go in the configuration",
        ),
        (
            '[{"name": "a", "base_url": "http://a/v1", "models": [{"name": "m", "tool": true}]}]',
            "unknown field(s) tool",
        ),
        (
            '[{"name": "a", "base_url": "http://a/v1", "models": [{"name": "m", "tools": "yes"}]}]',
            "model 'm': 'tools' must be true or false",
        ),
        (
            '[{"name": "a", "base_url": "http://a/v1", '
            '"models": [{"name": "m", "context_window": -1}]}]',
            "'context_window' must be a positive whole number",
        ),
        (
            '[{"name": "a", "base_url": "http://a/v1", "models": ["m"]}, '
            '{"name": "a", "base_url": "http://b/v1", "models": ["n"]}]',
            "endpoint name 'a'",
        ),
        ("/no/such/file.toml", "cannot read /no/such/file.toml"),
        (
            '[{"name": "a", "base_url": "http://a/v1", '
            '"models": [{"name": "m", "max_tokens_field": "limit"}]}]',
            "'max_tokens_field' must be one of max_tokens, max_completion_tokens",
        ),
    ],
)
def test_mistakes_name_the_field(config: str, says: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse(config)
    assert says in str(caught.value)


def test_a_broken_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[endpoints]\nname=")
    with pytest.raises(ImproperlyConfigured, match=r"bad\.toml"):
        parse(str(path))


def test_the_key_comes_from_the_named_variable_only() -> None:
    (endpoint,) = parse(
        '[{"name": "o", "base_url": "https://o/v1", "api_key_env": "O_KEY", "models": ["m"]}]'
    )
    assert endpoint.api_key({"O_KEY": "sk-live"}) == "sk-live"
    with pytest.raises(ImproperlyConfigured, match=r"O_KEY .* is not set"):
        endpoint.api_key({})
    assert "sk-live" not in repr(endpoint)


def test_single_endpoint_settings() -> None:
    assert legacy("", "", ["m"], []) == ()
    (endpoint,) = legacy("http://x/v1", "sk-1", ["a", "b"], ["b"])
    assert endpoint.name == LEGACY_ENDPOINT
    assert endpoint.api_key({}) == "sk-1"
    assert "sk-1" not in repr(endpoint)
    assert [(m.id, m.options.tools) for m in endpoint.models] == [("a", False), ("b", True)]
    (everything,) = legacy("http://x/v1", "", ["a", "b"], ["*"])
    assert all(m.options.tools for m in everything.models)


def test_every_recipe_in_the_providers_guide_is_valid_configuration() -> None:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "providers.md").read_text()
    sections = re.split(r"^### ", guide, flags=re.MULTILINE)[1:]
    recipes = {s.splitlines()[0]: re.findall(r"```toml\n(.*?)```", s, re.DOTALL) for s in sections}
    assert set(recipes) == {
        "vLLM",
        "Ollama",
        "llama.cpp server",
        "LM Studio",
        "OpenRouter",
        "OpenAI",
    }
    for server, blocks in recipes.items():
        assert len(blocks) == 1, server
        endpoints = from_data(tomllib.loads(blocks[0]))
        assert endpoints, server
        assert all(e.base_url.endswith("/v1") for e in endpoints), server
    intro = re.findall(r"```toml\n(.*?)```", guide.split("## Recipes")[0], re.DOTALL)
    assert [m.id for e in from_data(tomllib.loads(intro[0])) for m in e.models] == ["qwen3-local"]
