"""Every upstream fault through a real daphne and the fake model server (issue 21):
an unknown model (404), a connection cut at several points of the answer, a
stall, a unicode answer split inside UTF-8 sequences, and a ~100 KB answer.

For each: the stored message (status, exact content, usage), the error's words
where the user sees them (the stream's alert and ``done`` footer, the reloaded
page), and whether Retry is offered. 401, 429 and 500 are in
tests/test_retry_flow.py, the tool scenarios in tests/test_tools_e2e.py.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streaming.providers.errors import MSG_BROKEN, MSG_IDLE, MSG_NOT_FOUND
from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Finish, Script, Text
from tests.support.client import SpoolClient, SSEEvent, live_message_id
from tests.support.daphne import DaphneServer, run_daphne
from tests.test_views_stream import PageModel

# Offered by Spool's picker, unknown to the (strict) model server: a model
# retired upstream after the administrator configured it.
RETIRED_MODEL = "retired-model"
IDLE_TIMEOUT_S = 3  # spool_env's SPOOL_IDLE_TIMEOUT_S
# What the fake server reports when asked for usage (tests/fakes/scripts.py).
PROMPT_TOKENS, COMPLETION_TOKENS = 11, 7
NOT_AVAILABLE = "This model is not available: start a new conversation with another model."

# Every kind of multi-byte sequence (2, 3 and 4 bytes, a combining accent, a
# ZWJ emoji), in chunks of 3 characters so each event holds some, and every
# event carrying one is written in two pieces cut inside a character.
UNICODE_ANSWER = (
    "Grüße aus Köln — naïve café, e\u0301 combining.\n\n"
    "日本語のテキスト、中文\uff0c한국어.\n\n"
    "Emoji: 🚀 👩\u200d💻 🇫🇷 and math: ∑ ≤ ½ \U0001d538."
)
# ~100 KB of markdown: headings, paragraphs, lists and code blocks.
SECTIONS = 250
SENTENCE = "the quick brown fox jumps over the lazy dog, and the answer keeps going. "
LONG_ANSWER = "\n\n".join(
    f"## Section {i}\n\nParagraph {i}: {SENTENCE * 4}\n\n- item {i}.a\n- item {i}.b\n\n"
    f"```python\nvalue_{i} = {i} * 2  # line {i}\n```"
    for i in range(SECTIONS)
)
LONG_ANSWER_TOKENS_MAX = 40_000


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(models=(FAKE_MODEL,), strict_models=True) as fake:
        yield fake


@pytest.fixture(scope="module")
def spool(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("faults")
    env = spool_env(
        upstream,
        SPOOL_LLM_MODELS=f"{FAKE_MODEL},{RETIRED_MODEL}",
        # Room for the ~100 KB answer (~25k tokens): the default budget (4096)
        # would cut it, as it should (the fake server ignores max_tokens); the
        # context window holds that budget plus the prompt.
        SPOOL_MAX_OUTPUT_TOKENS=str(LONG_ANSWER_TOKENS_MAX),
        SPOOL_DEFAULT_CONTEXT_WINDOW=str(2 * LONG_ANSWER_TOKENS_MAX),
    )
    with run_daphne(tmp, env) as daphne:
        yield daphne


@pytest.fixture
def client(spool: DaphneServer) -> Iterator[SpoolClient]:
    c = SpoolClient(spool.url).signup()
    yield c
    c.close()


def keyword(name: str) -> str:
    """A prompt marker no other test of this server uses."""
    return f"[{name}-{uuid.uuid4().hex[:8]}]"


def answer_html(page_html: str, message_id: str) -> str:
    m = re.search(rf'<article id="m-{message_id}".*?</article>', page_html, re.S)
    assert m, f"no answer {message_id} on the page"
    return m.group(0)


def visible(fragment: str) -> str:
    """The text a reader sees: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def buttons(fragment: str) -> list[str]:
    """The labels of the buttons in ``fragment``, with ``(disabled)`` after a disabled one."""
    return [
        visible(label) + (" (disabled)" if " disabled" in attrs else "")
        for attrs, label in re.findall(r"<button([^>]*)>(.*?)</button>", fragment, re.S)
    ]


def said_once(client: SpoolClient, message_id: str) -> list[str]:
    """The alerts of the answer's stream replayed from its first event (what a
    page connected all along heard, whenever this test connects)."""
    events = client.stream_events(message_id, last_event_id="0")
    assert events[-1].event == "done"
    return [visible(e.data) for e in events if e.event == "alert"]


def ask(
    client: SpoolClient, spool: DaphneServer, text: str, model: str = FAKE_MODEL
) -> tuple[str, str, list[SSEEvent], dict[str, Any]]:
    """Send ``text`` and read the answer's stream to its end:
    (page path, answer id, the stream's events, the stored row)."""
    path, answer_id = client.start_conversation(text, model=model)
    events = client.stream_events(answer_id)
    assert events[-1].event == "done", [e.event for e in events]
    row = spool.wait_status(answer_id, "complete", "failed", "truncated", "interrupted")
    return path, answer_id, events, row


def test_a_model_unknown_upstream_fails_without_retry(
    client: SpoolClient, spool: DaphneServer, upstream: FakeOpenAIServer
) -> None:
    question = f"{keyword('404')} hi"
    path, mid, events, row = ask(client, spool, question, model=RETIRED_MODEL)

    said = MSG_NOT_FOUND.format(model=RETIRED_MODEL)
    assert (row["status"], row["content"]) == ("failed", "")
    assert (row["error_code"], row["error_message"]) == ("not_found", said)
    assert not row["error_retryable"]
    assert (row["prompt_tokens"], row["output_tokens"]) == (None, 0)  # nothing was said
    [record] = [r for r in upstream.chat_requests if r.last_user_text == question]
    assert record.body["model"] == RETIRED_MODEL

    assert said_once(client, mid) == [said]
    for where in (events[-1].data, answer_html(client.http.get(path).text, mid)):
        text = visible(where)
        assert f"Failed: {said}" in text
        assert NOT_AVAILABLE in text
        assert not any(b.startswith("Retry") for b in buttons(where)), buttons(where)
    r = client.post(f"/m/{mid}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert NOT_AVAILABLE in html.unescape(r.text)


PARTIAL = "The first half of the answer, then"


@pytest.mark.parametrize(
    ("script", "content", "code", "said"),
    [
        pytest.param(
            Script.text(PARTIAL, finish=None).then_abrupt_close(),
            PARTIAL,
            "stream_broken",
            MSG_BROKEN,
            id="abrupt_close_mid_answer",
        ),
        pytest.param(
            Script.text("", finish=None).then_abrupt_close(),
            "",
            "stream_broken",
            MSG_BROKEN,
            id="abrupt_close_before_any_text",
        ),
        pytest.param(
            Script.text(PARTIAL, finish=None).then_stall(60),
            PARTIAL,
            "timeout",
            MSG_IDLE.format(seconds=IDLE_TIMEOUT_S),
            id="stall",
        ),
    ],
)
def test_a_broken_answer_keeps_its_text_and_offers_a_retry_that_works(
    client: SpoolClient,
    spool: DaphneServer,
    upstream: FakeOpenAIServer,
    script: Script,
    content: str,
    code: str,
    said: str,
) -> None:
    key = keyword(code)
    upstream.when(key, script, times=1)  # the Retry gets the default answer
    path, mid, events, row = ask(client, spool, f"{key} go")

    assert (row["status"], row["content"]) == ("failed", content)
    assert (row["error_code"], row["error_message"]) == (code, said)
    assert row["error_retryable"]
    assert row["retry_after_at"] is None
    # No usage came: the output is counted from the text kept.
    assert row["prompt_tokens"] is None
    assert row["output_tokens_estimated"]
    assert (row["output_tokens"] > 0) == bool(content)
    if code == "timeout":  # Spool hung up on the stalled server, not left it open
        assert upstream.wait_for_hangup(timeout=5, prompt=key).hung_up

    assert said_once(client, mid) == [said]
    for where in (events[-1].data, answer_html(client.http.get(path).text, mid)):
        text = visible(where)
        assert f"Failed: {said}" in text
        assert content in text
        # With text kept, Continue first (docs/streaming.md, Continue); none without.
        offered = ["Continue", "Retry"] if content else ["Retry"]
        assert buttons(where)[: len(offered)] == offered, buttons(where)

    r = client.post(f"/m/{mid}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text
    new_id = live_message_id(r.text)
    client.stream_events(new_id)
    again = spool.wait_status(new_id, "complete")
    assert "fake model" in again["content"]
    assert (again["prompt_tokens"], again["output_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)


def test_a_close_after_the_finish_reason_is_a_complete_answer(
    client: SpoolClient, spool: DaphneServer, upstream: FakeOpenAIServer
) -> None:
    """The turn ended; only the usage chunk and [DONE] are lost."""
    key = keyword("close-after-finish")
    upstream.when(key, Script((Text("All said."), Finish("stop"))).then_abrupt_close())
    path, mid, events, row = ask(client, spool, f"{key} go")

    assert (row["status"], row["content"], row["error_code"]) == ("complete", "All said.", "")
    assert row["prompt_tokens"] is None
    assert row["output_tokens_estimated"]
    assert said_once(client, mid) == []
    page = answer_html(client.http.get(path).text, mid)
    for where in (events[-1].data, page):
        assert "Failed" not in visible(where)
        assert "Retry" not in buttons(where)
    assert "All said." in visible(page)
    # The count is Spool's estimate, and so is the rate: said so, never as counts.
    assert row["output_tokens"] == 2  # "All said.": 9 characters at 4 a token
    for where in (events[-1].data, page):
        metrics = visible(where)
        assert "~2 tokens (estimated)" in metrics, metrics
        assert re.search(r"~\d+ tokens/s \(estimated\)", metrics), metrics
        assert not re.search(r"(?<!~)\b\d+ tokens\b(?! \(estimated\))", metrics), metrics


def test_a_unicode_answer_split_inside_characters_is_stored_byte_exact(
    client: SpoolClient, spool: DaphneServer, upstream: FakeOpenAIServer
) -> None:
    key = keyword("utf8")
    upstream.when(
        key,
        Script((Text(UNICODE_ANSWER, chunk_size=3),), name="utf8", split_utf8=True).then_finish(),
    )
    path, mid, events, row = ask(client, spool, f"{key} go")

    assert (row["status"], row["error_code"]) == ("complete", "")
    assert row["content"].encode() == UNICODE_ANSWER.encode()
    assert (row["prompt_tokens"], row["output_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert not row["output_tokens_estimated"]
    # What the page built from the stream is the stored HTML, and says the text.
    assert said_once(client, mid) == []
    assert PageModel().apply(events).html == row["html"]
    page = answer_html(client.http.get(path).text, mid)
    # The server's count, shown as one.
    assert f" {COMPLETION_TOKENS} tokens " in f" {visible(page)} "
    assert "estimated" not in visible(page)
    assert "~" not in visible(page)
    for paragraph in UNICODE_ANSWER.split("\n\n"):
        assert paragraph in visible(row["html"])
        assert paragraph in visible(page)
    assert "\ufffd" not in visible(page)
    assert "Regenerate" in buttons(page)
    assert "Retry" not in buttons(page)


def test_a_100_kb_answer_is_stored_and_shown_whole(
    client: SpoolClient, spool: DaphneServer, upstream: FakeOpenAIServer
) -> None:
    assert 95_000 < len(LONG_ANSWER.encode()) < 110_000
    key = keyword("long")
    upstream.when(key, Script.text(LONG_ANSWER, chunk_size=24, name="long_answer"))
    path, mid, events, row = ask(client, spool, f"{key} go")

    assert (row["status"], row["finish_reason"], row["error_code"]) == ("complete", "stop", "")
    assert row["content"] == LONG_ANSWER
    assert (row["prompt_tokens"], row["output_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert PageModel().apply(events).html == row["html"]
    page = answer_html(client.http.get(path).text, mid)
    text = visible(page)
    for i in (0, SECTIONS // 2, SECTIONS - 1):
        assert f"Section {i}" in text
        assert f"value_{i} = {i} * 2 # line {i}" in text
    assert row["html"].count("<h2") == SECTIONS
    assert "Retry" not in buttons(page)
