"""Continue through a real daphne, the fake model server and the demo model:
after a Stop, a truncation, a grace interrupt and a kill -9, the same answer is
finished, exactly, with nothing repeated at the seam."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.continuation import CONTINUE_INSTRUCTION
from streaming.markdown import render_markdown
from streaming.metrics import estimate_tokens
from tests.conftest import FAKE_MODEL, spool_env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SpoolClient, SSEEvent, count, live_message_id
from tests.support.daphne import DaphneServer, run_daphne
from tests.test_scaleout import on, pair
from tests.test_views_stream import PageModel

__all__ = ["pair"]  # the two-process fixture, shared with tests/test_scaleout.py

HX = {"HX-Request": "true"}
# ~40 paragraphs of varied words: a repeat at the seam would show as a doubled phrase.
WHOLE = "\n\n".join(
    f"Part {i}: the {adj} {noun} {verb} beside the river, then rests for {i} minutes."
    for i, (adj, noun, verb) in enumerate(
        zip(
            ["quick", "calm", "bright", "quiet", "brave"] * 8,
            ["fox", "heron", "otter", "badger", "swan", "deer", "hare", "wren"] * 5,
            ["runs", "waits", "swims", "digs", "glides"] * 8,
            strict=True,
        )
    )
)
# Continuations start over three words back, as models often do.
REPEAT_WORDS = 3


def keyword(prefix: str) -> str:
    return f"[{prefix}-{uuid.uuid4().hex[:8]}]"


def continue_form(html: str, message_id: str) -> bool:
    return f'action="/m/{message_id}/continue"' in html


def answer_html(page_html: str, message_id: str) -> str:
    m = re.search(rf'<article id="m-{message_id}".*?</article>', page_html, re.S)
    assert m, f"no answer {message_id} on the page"
    return m.group(0)


def press_continue(client: SpoolClient, message_id: str) -> str:
    r = client.post(f"/m/{message_id}/continue", headers=HX)
    assert r.status_code == 200, r.text[:500]
    assert live_message_id(r.text) == message_id, "the same answer goes on"
    return r.text


def continued_stream(client: SpoolClient, message_id: str) -> list[SSEEvent]:
    events = client.stream_events(message_id)
    assert events[-1].event == "done", [(e.event, e.id, e.data[:60]) for e in events]
    return events


def no_doubled_phrase(text: str) -> None:
    words = text.split()
    for n in (2, 3, 4):
        grams = [" ".join(words[i : i + n]) for i in range(len(words) - 2 * n + 1)]
        doubled = [g for i, g in enumerate(grams) if g == " ".join(words[i + n : i + 2 * n])]
        assert not doubled, f"repeated at the seam: {doubled}"


@pytest.fixture
def scenario(fake_llm: FakeOpenAIServer) -> str:
    """A prompt keyword: the first answer streams WHOLE slowly; a Continue of it
    gets the rest of WHOLE, starting over a few words back."""
    key = keyword("cont")
    fake_llm.when(key, Script.text(WHOLE, chunk_size=8, delay=0.02, name="first"))
    fake_llm.when_continuing(
        key,
        Script.continuation(
            WHOLE, repeat_words=REPEAT_WORDS, chunk_size=6, delay=0.005, usage=(500, 333)
        ),
    )
    return key


def test_continue_after_stop_finishes_the_same_answer(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer, scenario: str
) -> None:
    page, mid = client.start_conversation(f"{scenario} tell me", model=FAKE_MODEL)
    applied = client.stream_until(mid, count("block", 6))
    r = client.post(f"/m/{mid}/stop", {"seen": applied[-1].id or ""}, headers=HX)
    assert r.status_code == 204
    stopped = spool_server.wait_status(mid, "stopped")
    partial = stopped["content"]
    assert 0 < len(partial) < len(WHOLE)
    assert WHOLE.startswith(partial)
    footer = answer_html(client.http.get(page).text, mid)
    assert continue_form(footer, mid)
    assert "/retry" in footer, "Continue sits beside Retry"
    requests_before = len(fake_llm.chat_requests)

    live_html = press_continue(client, mid)
    # The stored text is there at once, before the stream says anything.
    assert render_markdown(partial).split("</p>")[0] in live_html
    assert 'id="stop-button"' in live_html
    # A reload mid-continue shows the stored part, live, from its first paint.
    reloaded = client.http.get(page).text
    assert live_message_id(reloaded) == mid
    assert "Part 0: the quick fox" in answer_html(reloaded, mid)
    events = continued_stream(client, mid)

    row = spool_server.wait_status(mid, "complete")
    assert row["content"] == WHOLE
    no_doubled_phrase(row["content"])
    assert row["html"] == render_markdown(WHOLE)
    # The stream showed the stored answer first (its snapshot), then appended.
    snapshot = PageModel().apply(events[:2])
    assert snapshot.html.startswith(render_markdown(partial.split("\n\n")[0]))
    assert PageModel().apply(events).html == row["html"]
    # The model got the conversation, the partial answer and the instruction.
    [request] = fake_llm.chat_requests[requests_before:]
    messages = request.body["messages"]
    assert messages[-3]["role"] == "user"
    assert scenario in messages[-3]["content"]
    assert messages[-2] == {"role": "assistant", "content": partial.rstrip()}
    assert messages[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}
    # One message, one status, summed metrics with the first part's TTFT.
    assert row["ttft_ms"] == stopped["ttft_ms"]
    assert row["output_tokens"] == stopped["output_tokens"] + 333
    assert row["duration_ms"] > stopped["duration_ms"]
    assert row["continued_at"] is not None
    assert not continue_form(answer_html(client.http.get(page).text, mid), mid)


def test_continue_after_the_models_length_limit(
    client: SpoolClient, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("len")
    cut = WHOLE.index("Part 7") + 20
    fake_llm.when(key, Script.text(WHOLE[:cut], chunk_size=20, finish="length"))
    fake_llm.when_continuing(
        key, Script.continuation(WHOLE, repeat_words=REPEAT_WORDS, chunk_size=6, delay=0.005)
    )
    page, mid = client.start_conversation(f"{key} go", model=FAKE_MODEL)
    row = spool_server.wait_status(mid, "truncated")
    assert row["finish_reason"] == "length"
    done = client.stream_events(mid)[-1]
    assert "Cut short at the length limit" in done.data
    assert continue_form(done.data, mid)

    # Without JavaScript: the form posts, the page comes back with the live answer.
    r = client.post(f"/m/{mid}/continue")
    assert r.status_code == 200
    assert r.url.path == page
    assert live_message_id(r.text) == mid
    continued_stream(client, mid)
    row = spool_server.wait_status(mid, "complete")
    assert row["content"] == WHOLE
    assert row["finish_reason"] == "stop"


def test_continue_is_owner_only_and_needs_csrf(
    client: SpoolClient, other_client: SpoolClient, spool_server: DaphneServer, scenario: str
) -> None:
    _, mid = client.start_conversation(f"{scenario} x", model=FAKE_MODEL)
    client.stream_until(mid, count("block", 2))
    client.post(f"/m/{mid}/stop", headers=HX)
    spool_server.wait_status(mid, "stopped")
    assert other_client.post(f"/m/{mid}/continue", headers=HX).status_code == 404
    assert client.http.post(f"/m/{mid}/continue", headers=HX).status_code == 403
    assert client.http.get(f"/m/{mid}/continue").status_code == 405
    assert spool_server.message(mid)["status"] == "stopped"


def test_a_complete_or_live_answer_is_not_continued(
    client: SpoolClient, spool_server: DaphneServer, scenario: str
) -> None:
    _, done_id = client.start_conversation("hello there", model="demo")
    client.stream_events(done_id)
    spool_server.wait_status(done_id, "complete")
    r = client.post(f"/m/{done_id}/continue", headers=HX)
    assert r.status_code == 422
    assert (
        "Only a stopped, interrupted or cut-short answer, or one that failed "
        "for a passing reason, can be continued." in r.text
    )

    _page, mid = client.start_conversation(f"{scenario} y", model=FAKE_MODEL)
    client.stream_until(mid, count("block", 2))
    client.post(f"/m/{mid}/stop", headers=HX)
    spool_server.wait_status(mid, "stopped")
    press_continue(client, mid)
    again = client.post(f"/m/{mid}/continue", headers=HX)  # while it streams
    assert again.status_code == 422
    assert "still being written" in again.text
    client.post(f"/m/{mid}/stop", headers=HX)
    spool_server.wait_status(mid, "stopped")


def test_continue_counts_as_a_send_for_the_rate_limit(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("rate")
    fake_llm.when(key, Script.text(WHOLE[:200], finish="length"))
    fake_llm.when_continuing(key, Script.text("x", finish="length"))
    env = spool_env(fake_llm, SPOOL_MAX_SENDS_PER_MINUTE="2")
    with run_daphne(tmp_path, env) as server, SpoolClient(server.url) as c:
        c.signup()
        _, mid = c.start_conversation(f"{key} a", model=FAKE_MODEL)
        server.wait_status(mid, "truncated")
        press_continue(c, mid)  # the second request this minute
        server.wait_status(mid, "truncated")
        r = c.post(f"/m/{mid}/continue", headers=HX)
        assert r.status_code == 422
        assert "faster than Spool allows" in r.text


def test_continue_after_each_time_limit_until_the_demo_answer_is_whole(tmp_path: Path) -> None:
    """The run's wall clock cuts every part; each Continue takes it further."""
    from streaming.providers.demo import _TOKEN, _continued, _pick_answer

    prompt = "a long answer"
    whole = _pick_answer(prompt)
    env = {"SPOOL_DEMO_TOKEN_DELAY_S": "0.01", "SPOOL_RUN_WALL_CLOCK_S": "1.5"}
    with run_daphne(tmp_path, env) as server, SpoolClient(server.url) as c:
        c.signup()
        # A fresh process's first answer pays for its imports and connections.
        _, warm = c.start_conversation("[bench:5]", model="demo")
        c.stream_events(warm)
        _, mid = c.start_conversation(prompt, model="demo")
        parts: list[str] = []  # the stored text after each part
        for _ in range(12):
            c.stream_events(mid)
            row = server.wait_status(mid, "truncated", "complete")
            parts.append(row["content"])
            if row["status"] == "complete":
                break
            assert row["finish_reason"] == "time_limit"
            assert whole.startswith(row["content"])
            press_continue(c, mid)
        assert row["status"] == "complete", [len(p) for p in parts]
        assert row["content"] == whole
        assert len(parts) >= 3, "the answer should take several parts"
        # Every part counted once: a part cut by the clock has no usage from
        # the model (estimated from its text), the last one has the demo's.
        contents = ["", *parts]
        expected = sum(
            estimate_tokens(text[len(before.rstrip()) :])
            for before, text in itertools.pairwise(contents[:-1])
        )
        expected += len(_continued(_TOKEN.findall(whole), parts[-2].rstrip()))
        assert row["output_tokens"] == expected
        assert row["output_tokens_estimated"]


# -- the detach grace (issue's "Grace" check) and a crash, on daphnes of their own


GRACE_S = 2.0


@pytest.fixture(scope="module")
def grace_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    env = spool_env(fake_llm, SPOOL_DETACH_GRACE_S=str(GRACE_S))
    with run_daphne(tmp_path_factory.mktemp("grace"), env) as server:
        yield server


@pytest.fixture
def grace_client(grace_server: DaphneServer) -> Iterator[SpoolClient]:
    with SpoolClient(grace_server.url) as c:
        yield c.signup()


def leave_at_a_fifth(client: SpoolClient, message_id: str) -> float:
    """Read the answer's stream until ~20 % of WHOLE's paragraphs, then hang up."""
    client.stream_until(message_id, count("block", WHOLE.count("\n\n") // 5))
    return time.monotonic()


def test_grace_coming_back_in_time_completes_the_answer(
    grace_client: SpoolClient, grace_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("back")
    fake_llm.when(key, Script.text(WHOLE, chunk_size=8, delay=0.02))
    page, mid = grace_client.start_conversation(f"{key} go", model=FAKE_MODEL)
    leave_at_a_fifth(grace_client, mid)
    time.sleep(GRACE_S / 2)
    assert 'sse-connect="/m/' in grace_client.http.get(page).text  # still being written
    grace_client.stream_events(mid)
    row = grace_server.wait_status(mid, "complete")
    assert row["content"] == WHOLE
    assert not [r for r in fake_llm.chat_requests if key in r.last_user_text and r.hung_up]


def test_grace_staying_away_interrupts_then_continue_completes(
    grace_client: SpoolClient, grace_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = keyword("away")
    fake_llm.when(key, Script.text(WHOLE, chunk_size=8, delay=0.05))
    fake_llm.when_continuing(key, Script.continuation(WHOLE, repeat_words=REPEAT_WORDS))
    page, mid = grace_client.start_conversation(f"{key} go", model=FAKE_MODEL)
    left_at = leave_at_a_fifth(grace_client, mid)

    hangup = fake_llm.wait_for_hangup(timeout=GRACE_S + 5, prompt=key)
    assert hangup.hung_up_at is not None
    assert hangup.hung_up_at - left_at >= GRACE_S - 0.1, "closed upstream only after the grace"
    row = grace_server.wait_status(mid, "interrupted")
    assert 0 < len(row["content"]) < len(WHOLE)
    assert continue_form(answer_html(grace_client.http.get(page).text, mid), mid)

    press_continue(grace_client, mid)
    continued_stream(grace_client, mid)
    row = grace_server.wait_status(mid, "complete")
    assert row["content"] == WHOLE
    no_doubled_phrase(row["content"])


def test_continue_after_kill_9_finishes_the_answer_on_sqlite(tmp_path: Path) -> None:
    """The demo model (a prefill, continued natively) at ~50 % when daphne is killed."""
    from streaming.providers.demo import _pick_answer

    prompt = "a long answer please"
    whole = _pick_answer(prompt)
    env = {"SPOOL_DEMO_TOKEN_DELAY_S": "0.01", "SPOOL_DETACH_GRACE_S": "none"}
    with run_daphne(tmp_path, env) as server:
        c = SpoolClient(server.url).signup()
        page, mid = c.start_conversation(prompt, model="demo")
        deadline = time.monotonic() + 20
        while len(server.message(mid)["content"]) < len(whole) // 2:
            assert time.monotonic() < deadline, "the answer did not get halfway"
            time.sleep(0.05)
        server.process.kill()  # SIGKILL: no shutdown, no final save
        server.process.wait()
    saved = server.message(mid)
    assert saved["status"] == "streaming"
    assert 0 < len(saved["content"]) < len(whole)

    with run_daphne(tmp_path, env) as server:
        c.http.base_url = server.url
        # A leftover is recognised once its last checkpoint is older than the
        # orphan age (chatapp/live.py): then the page marks it interrupted.
        # Counted from the restart: a loaded machine's slow daphne start-up is
        # not the time this measures.
        deadline = time.monotonic() + 10
        while server.message(mid)["status"] == "streaming":
            assert time.monotonic() < deadline, "the leftover was not marked"
            c.http.get(page)  # a read marks a crash leftover (lazily)
            time.sleep(0.2)
        row = server.message(mid)
        assert row["status"] == "interrupted"
        assert row["content"] == saved["content"]
        html = answer_html(c.http.get(page).text, mid)
        assert continue_form(html, mid)
        assert "Continue finishes it" in html

        press_continue(c, mid)
        continued_stream(c, mid)
        row = server.wait_status(mid, "complete")
        assert row["content"] == whole
        assert row["html"] == render_markdown(whole)
    c.close()


@pytest.mark.services
def test_continue_across_two_processes_on_postgres_and_redis(
    pair: tuple[DaphneServer, DaphneServer], fake_llm: FakeOpenAIServer
) -> None:
    """Stopped from the other process (its stop request stays in Redis), then
    continued there and watched from the first: the new run starts a fresh
    log, is not stopped by the old request, and its frames are its own."""
    a, b = pair
    key = keyword("pair")
    fake_llm.when(key, Script.text(WHOLE, chunk_size=8, delay=0.02))
    fake_llm.when_continuing(
        key, Script.continuation(WHOLE, repeat_words=REPEAT_WORDS, chunk_size=6, delay=0.005)
    )
    with SpoolClient(a.url) as user, on(b, user) as twin:
        user.signup()
        twin.http.cookies.update(user.http.cookies)
        _, mid = user.start_conversation(f"{key} go", model=FAKE_MODEL)
        applied = user.stream_until(mid, count("block", 4))
        twin.post(f"/m/{mid}/stop", {"seen": applied[-1].id or ""}, headers=HX)
        a.wait_status(mid, "stopped")

        press_continue(twin, mid)
        events = continued_stream(user, mid)
        row = a.wait_status(mid, "complete")
        assert row["content"] == WHOLE
        assert PageModel().apply(events).html == row["html"]
