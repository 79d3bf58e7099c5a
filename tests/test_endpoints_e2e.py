"""Several model servers through a real daphne: the picker lists models by
endpoint, each send reaches its own server with its own key and options, and
an unknown model is a 422 with the text kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient, count
from tests.support.daphne import DaphneServer, run_daphne


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with (
        FakeOpenAIServer(models=("qwen3:8b",), strict_models=True) as local,
        FakeOpenAIServer(models=("gpt-4o-mini",), api_key="sk-cloud", strict_models=True) as cloud,
    ):
        local.set_default(Script.text("Answer from the local server."))
        cloud.set_default(Script.text("Answer from the cloud server."))
        yield local, cloud


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, servers: tuple[FakeOpenAIServer, FakeOpenAIServer]
) -> Iterator[DaphneServer]:
    local, cloud = servers
    tmp: Path = tmp_path_factory.mktemp("endpoints")
    (tmp / "endpoints.toml").write_text(
        f"""
[[endpoints]]
name = "local"
label = "This machine"
base_url = "{local.base_url}"
models = [
  {{ name = "qwen3:8b", label = "Qwen3 8B", include_usage = false, extra_body = {{ top_k = 20 }} }},
]

[[endpoints]]
name = "cloud"
label = "Cloud"
base_url = "{cloud.base_url}"
api_key_env = "CLOUD_KEY"
models = [{{ name = "gpt-4o-mini", id = "mini", max_output_tokens = 321 }}]
"""
    )
    env = {
        "SPOOL_LLM_ENDPOINTS": str(tmp / "endpoints.toml"),
        "CLOUD_KEY": "sk-cloud",
        "SPOOL_DEFAULT_MODEL": "mini",
        "SPOOL_DEMO_TOKEN_DELAY_S": "0.002",
    }
    with run_daphne(tmp, env) as server:
        yield server


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def test_the_picker_lists_models_by_endpoint(client: SpoolClient) -> None:
    page = client.http.get("/").text
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', page)
    assert [(label, re.findall(r'value="([^"]+)"', body)) for label, body in groups] == [
        ("This machine", ["qwen3:8b"]),
        ("Cloud", ["mini"]),
        ("Offline", ["demo", "demo-thinking"]),
    ]
    assert re.search(r'<option value="mini" selected>gpt-4o-mini</option>', page)
    assert "sk-cloud" not in page


@pytest.mark.parametrize(
    ("model", "server_index", "text"),
    [
        ("qwen3:8b", 0, "Answer from the local server."),
        ("mini", 1, "Answer from the cloud server."),
    ],
)
def test_each_model_is_served_by_its_endpoint(
    spool: DaphneServer,
    client: SpoolClient,
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    model: str,
    server_index: int,
    text: str,
) -> None:
    server = servers[server_index]
    before = len(server.chat_requests)
    _, answer_id = client.start_conversation(f"hello {model}", model=model)
    client.stream_until(answer_id, count("done", 1))

    stored = spool.wait_status(answer_id, "complete")
    assert (stored["content"], stored["model"]) == (text, model)
    request = server.chat_requests[before]
    assert request.last_user_text == f"hello {model}"
    if model == "mini":
        assert request.headers["authorization"] == "Bearer sk-cloud"
        assert request.body["model"] == "gpt-4o-mini"
        assert request.body["max_tokens"] == 321
        assert request.body["stream_options"] == {"include_usage": True}
    else:
        assert request.headers["authorization"] != "Bearer sk-cloud"
        assert request.body["top_k"] == 20
        assert "stream_options" not in request.body


def test_an_unknown_model_is_refused_with_the_text_kept(client: SpoolClient) -> None:
    r = client.post("/c/new", {"text": "my long question", "model": "gpt-4o-mini"})
    assert r.status_code == 422
    assert "not available" in r.text
    assert "my long question" in r.text
