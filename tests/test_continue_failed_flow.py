"""Continue after a failure, through a real daphne and the fake model server.

An answer that failed midway for a reason that may pass (the connection cut,
an error event after some text, a stall) keeps its text and offers Continue
before Retry; Continue finishes the same answer, its text exactly the partial
one plus the rest, with nothing doubled or lost at the seam. A failure asking
again cannot fix offers no Continue and refuses one (422); a rate limit's wait
keeps Continue closed, as it does Retry, and refuses an early one (422).
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from chatapp import retry
from chatapp.continuation import CONTINUE_INSTRUCTION
from streaming.markdown import render_markdown
from streaming.providers.errors import (
    MSG_BROKEN,
    MSG_IDLE,
    MSG_UPSTREAM_FAILED,
    rate_limit_message,
)
from tests.conftest import FAKE_MODEL
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Reasoning, Script, Text
from tests.support.client import SpoolClient, SSEEvent, iter_sse
from tests.support.daphne import DaphneServer
from tests.test_continue_flow import (
    HX,
    REPEAT_WORDS,
    WHOLE,
    answer_html,
    continued_stream,
    keyword,
    no_doubled_phrase,
    press_continue,
)
from tests.test_upstream_faults_e2e import buttons, visible
from tests.test_views_stream import PageModel

IDLE_TIMEOUT_S = 3  # spool_env's SPOOL_IDLE_TIMEOUT_S
# Inside a word, mid-answer: "Part 7: the quick ..." cut after 20 more characters.
CUT = WHOLE.index("Part 7") + 20
PARTIAL = WHOLE[:CUT]
THOUGHT = "First I list the animals, then where each one goes."
# What the fake server reports for the continuation.
CONTINUATION_USAGE = (500, 333)


def partial_then(*steps: Any, thought: bool = False) -> Script:
    """PARTIAL in a few chunks, no finish, then ``steps`` (the failure)."""
    first = (Reasoning(THOUGHT, chunk_size=12),) if thought else ()
    return Script((*first, Text(PARTIAL, chunk_size=40)), name="partial").then(*steps)


def page_stream(client: SpoolClient, live_html: str) -> list[SSEEvent]:
    """The stream as the page a POST response rendered connects to it (its ``sse-connect``)."""
    m = re.search(r'sse-connect="([^"]+)"', live_html)
    assert m, "no live answer"
    url = html.unescape(m.group(1))
    with client.http.stream("GET", url, headers={"Accept": "text/event-stream"}) as r:
        assert r.status_code == 200
        events = [e for e in iter_sse(r) if isinstance(e, SSEEvent)]
    assert events[-1].event == "done", [e.event for e in events]
    return events


def failed_footers(client: SpoolClient, page: str, mid: str) -> tuple[str, str]:
    """The failed answer's footer as the live page got it (the stream's
    ``done``) and as a reload renders it."""
    events: list[SSEEvent] = client.stream_events(mid)
    assert events[-1].event == "done", [e.event for e in events]
    return events[-1].data, answer_html(client.http.get(page).text, mid)


@pytest.mark.parametrize(
    ("script", "code", "said", "thought"),
    [
        pytest.param(
            partial_then().then_abrupt_close(), "stream_broken", MSG_BROKEN, False, id="cut"
        ),
        pytest.param(
            partial_then().then_stream_error(), "stream_broken", MSG_UPSTREAM_FAILED, False,
            id="error_event",
        ),
        pytest.param(
            partial_then().then_stall(60), "timeout",
            MSG_IDLE.format(seconds=IDLE_TIMEOUT_S), False, id="stall",
        ),
        pytest.param(
            partial_then(thought=True).then_abrupt_close(), "stream_broken", MSG_BROKEN, True,
            id="cut_after_thinking",
        ),
    ],
)  # fmt: skip
def test_a_transient_failure_midway_is_continued_to_the_whole_answer(
    client: SpoolClient,
    spool_server: DaphneServer,
    fake_llm: FakeOpenAIServer,
    script: Script,
    code: str,
    said: str,
    thought: bool,
) -> None:
    key = keyword(f"fail-{code}")
    fake_llm.when(key, script)
    fake_llm.when_continuing(
        key,
        Script.continuation(
            WHOLE, repeat_words=REPEAT_WORDS, chunk_size=6, usage=CONTINUATION_USAGE
        ),
    )
    page, mid = client.start_conversation(f"{key} tell me", model=FAKE_MODEL)
    failed = spool_server.wait_status(mid, "failed", timeout=IDLE_TIMEOUT_S + 10)
    assert (failed["content"], failed["error_code"]) == (PARTIAL, code)
    assert failed["error_retryable"]
    assert failed["reasoning"] == (THOUGHT if thought else "")

    for where in failed_footers(client, page, mid):
        assert f"Failed: {said}" in visible(where)
        assert buttons(where)[:2] == ["Continue", "Retry"], buttons(where)
    requests_before = len(fake_llm.chat_requests)

    press_continue(client, mid)
    # The error is history once the answer goes on: a live answer carries none.
    going = spool_server.message(mid)
    assert going["status"] in ("pending", "streaming", "complete")
    assert (going["error_code"], going["error_message"]) == ("", "")
    continued_stream(client, mid)

    row = spool_server.wait_status(mid, "complete")
    assert row["content"] == WHOLE
    no_doubled_phrase(row["content"])
    assert row["html"] == render_markdown(WHOLE)
    assert (row["error_code"], row["error_message"], row["finish_reason"]) == ("", "", "stop")
    assert row["reasoning"] == (THOUGHT if thought else "")
    # The model got the partial answer as its last turn, and the instruction.
    [request] = fake_llm.chat_requests[requests_before:]
    messages = request.body["messages"]
    assert key in messages[-3]["content"]
    assert messages[-2] == {"role": "assistant", "content": PARTIAL.rstrip()}
    assert messages[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}
    # Metrics add up, as for any Continue: the failed part's (estimated) and the rest's.
    assert failed["output_tokens_estimated"]
    assert row["output_tokens"] == failed["output_tokens"] + CONTINUATION_USAGE[1]
    assert row["duration_ms"] > failed["duration_ms"]
    assert row["ttft_ms"] == failed["ttft_ms"]

    finished = answer_html(client.http.get(page).text, mid)
    assert "Failed" not in visible(finished)
    assert "Continue" not in buttons(finished)


CONTEXT_NEXT_STEP = retry.NEXT_STEPS["context_length"]


@pytest.mark.parametrize(
    ("script", "content", "code", "next_step"),
    [
        pytest.param(
            partial_then().then_stream_error(
                "This model's maximum context length is 8192 tokens.",
                type="invalid_request_error", code="context_length_exceeded",
            ),
            PARTIAL, "context_length", CONTEXT_NEXT_STEP, id="context_length_after_text",
        ),
        pytest.param(
            Script.http_error(401, "Incorrect API key", code="invalid_api_key"),
            "", "auth", retry.CONFIGURATION, id="bad_key_before_any_text",
        ),
    ],
)  # fmt: skip
def test_a_failure_asking_again_cannot_fix_offers_no_continue_and_refuses_one(
    client: SpoolClient,
    spool_server: DaphneServer,
    fake_llm: FakeOpenAIServer,
    script: Script,
    content: str,
    code: str,
    next_step: str,
) -> None:
    key = keyword(f"final-{code}")
    fake_llm.when(key, script)
    page, mid = client.start_conversation(f"{key} tell me", model=FAKE_MODEL)
    failed = spool_server.wait_status(mid, "failed")
    assert (failed["content"], failed["error_code"]) == (content, code)
    assert not failed["error_retryable"]

    for where in failed_footers(client, page, mid):
        assert next_step in visible(where)
        assert not {"Continue", "Retry"} & set(buttons(where)), buttons(where)
        assert "/continue" not in where

    requests = len(fake_llm.chat_requests)
    r = client.post(f"/m/{mid}/continue", headers=HX)
    assert r.status_code == 422
    assert next_step in html.unescape(r.text)
    assert len(fake_llm.chat_requests) == requests, "the model was not asked"
    row = spool_server.message(mid)
    assert (row["status"], row["content"], row["error_code"]) == ("failed", content, code)


def test_a_rate_limited_continue_waits_like_retry_and_an_early_one_is_refused(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """Cut midway, then the Continue is rate-limited: the answer keeps its text
    and both Continue and Retry wait for the model's Retry-After."""
    key = keyword("fail-429")
    fake_llm.when(key, partial_then().then_abrupt_close())
    limited = Script.http_error(
        429, "Rate limit reached", type="requests", code="rate_limit_exceeded",
        headers={"retry-after": "30"},
    )  # fmt: skip
    fake_llm.when_continuing(key, limited, times=1)
    page, mid = client.start_conversation(f"{key} tell me", model=FAKE_MODEL)
    spool_server.wait_status(mid, "failed")
    live_html = press_continue(client, mid)
    failed = spool_server.wait_status(mid, "failed")
    assert (failed["content"], failed["error_code"]) == (PARTIAL, "rate_limit")
    assert failed["error_retryable"]
    assert failed["retry_after_at"] is not None

    # The page connects after the run ended (the 429 came at once): it still
    # hears the failure, once, and shows the stored text once.
    events = page_stream(client, live_html)
    assert [visible(e.data) for e in events if e.event == "alert"] == [rate_limit_message(30)]
    assert [visible(e.data) for e in events if e.event == "status"] == ["Answer failed."]
    assert PageModel().apply(events).html == render_markdown(PARTIAL) == failed["html"]

    for where in failed_footers(client, page, mid):
        labels = buttons(where)[:2]
        counts = [re.fullmatch(rf"{verb} in (\d+) s \(disabled\)", label) for verb, label in
                  zip(("Continue", "Retry"), labels, strict=True)]  # fmt: skip
        assert all(counts), labels
        assert all(20 <= int(m.group(1)) <= 30 for m in counts if m), labels
        assert PARTIAL.split("Part 7")[0].strip().split("\n\n")[-1] in visible(where)

    requests = len(fake_llm.chat_requests)
    r = client.post(f"/m/{mid}/continue", headers=HX)
    assert r.status_code == 422
    assert re.fullmatch(r"The model asked to wait: Continue in \d+ s\.", r.text.strip()), r.text
    assert len(fake_llm.chat_requests) == requests, "the model was not asked"
    row = spool_server.message(mid)
    assert (row["status"], row["content"], row["error_code"]) == ("failed", PARTIAL, "rate_limit")
