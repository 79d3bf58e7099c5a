"""What is announced when the connection is cut, the page reloaded, or a second tab opened.

A cut heals by the browser's own reconnect with ``Last-Event-ID``: the
announcements made meanwhile are replayed once, so the page says exactly what
an uninterrupted subscriber of the same answer is sent. A fresh page (reload,
second tab) starts from a snapshot: it announces only what is finished after
it opened, never the answer it found on the screen.

The browser talks to daphne through a cutting proxy (tests/support/cutproxy.py);
the reference is a raw SSE client reading the same run from its first event.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Route, expect

from tests.e2e import live_regions
from tests.e2e.test_chat import ask, sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import SSEEvent, iter_sse
from tests.support.cutproxy import CuttingProxy, cutting_proxy
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 30_000
# Shorter than RECONNECT_NOTICE_MS (5 s, spool.js): the cut heals silently.
OUTAGE_S = 3.0
CODE_LINES = 40
INTRO = "Intro paragraph here."
AFTER = "After the code."
CODE_ANSWER = (
    f"{INTRO}\n\n```python\n"
    + "".join(f"x{i} = {i}\n" for i in range(CODE_LINES))
    + f"```\n\n{AFTER}\n"
)


@pytest.fixture
def proxy(spool_server: DaphneServer) -> Iterator[CuttingProxy]:
    port = int(spool_server.url.rsplit(":", 1)[1])
    with cutting_proxy(port) as proxy:
        yield proxy


def recorded_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    live_regions.install(context)
    return context


def said(page: Page, region: str) -> list[str]:
    return [a.text for a in live_regions.announcements(page, region)]


def message_id(answer: Locator) -> str:
    expect(answer).to_have_attribute("id", re.compile(r"^m-"))
    return str(answer.get_attribute("id"))[2:]


@contextmanager
def reference_reader(
    server: DaphneServer, context: BrowserContext, message: str
) -> Iterator[list[SSEEvent]]:
    """Every event of the answer's stream from its first, read directly from daphne."""
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    events: list[SSEEvent] = []

    def read() -> None:
        with (
            httpx.Client(base_url=server.url, cookies=cookies, timeout=60) as http,
            http.stream("GET", f"/m/{message}/stream", params={"after": "0"}) as response,
        ):
            for item in iter_sse(response):
                if isinstance(item, SSEEvent):
                    events.append(item)
                    if item.event == "done":
                        return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    yield events
    thread.join(timeout=30)
    assert not thread.is_alive(), "the reference stream did not end"


def spoken(events: list[SSEEvent], kind: str) -> list[str]:
    """The text a page puts in a region for each event of ``kind`` (tags stripped)."""
    texts = [re.sub(r"<[^>]+>", "", e.data).strip() for e in events if e.event == kind]
    return [text for text in texts if text]


def test_a_cut_and_resumed_stream_announces_what_an_uninterrupted_one_does(
    browser: Browser, spool_server: DaphneServer, proxy: CuttingProxy
) -> None:
    context = recorded_context(browser)
    page = context.new_page()
    sign_up(page, proxy.url, f"cut-{uuid.uuid4().hex[:6]}")

    # An uninterrupted run of the same question first: the demo of a page that heard it all.
    control = ask(page, "[long] the same story")
    expect(control.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    uninterrupted = said(page, "#sr-answer")
    assert len(uninterrupted) >= 2, uninterrupted

    page.goto(f"{proxy.url}/")
    answer = ask(page, "[long] the same story")
    with reference_reader(spool_server, context, message_id(answer)) as reference:
        expect(page.locator("#sr-answer p").first).to_be_attached(timeout=10_000)
        assert proxy.cut("/stream", hold_s=OUTAGE_S) == 1, "the page's stream was cut"
        expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    heard = said(page, "#sr-answer")

    # The page resumed with Last-Event-ID after the refused attempts.
    heads = proxy.heads("/stream")
    assert any("last-event-id:" in head.lower() for head in heads[1:]), heads
    assert proxy.cuts >= 2, "reconnects during the outage were refused too"
    # Exactly what the run sent, once each, in order; and the same words as the
    # uninterrupted run (pacing may group the blocks differently).
    assert heard == spoken(reference, "announce")
    assert " ".join(heard) == " ".join(uninterrupted)
    statuses = said(page, "#sr-status")
    assert statuses == spoken(reference, "status"), statuses
    assert statuses[-1] == "Answer complete."
    assert "Reconnecting…" not in statuses
    assert said(page, "#sr-alert") == []
    context.close()


def test_a_reload_and_a_second_tab_announce_only_what_finishes_after_they_open(
    browser: Browser, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = f"[code-slow-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.text(CODE_ANSWER, chunk_size=4, delay=0.04, name="code_slow"))
    context = recorded_context(browser)
    first = context.new_page()
    sign_up(first, spool_server.url, f"tabs-{uuid.uuid4().hex[:6]}")
    answer = ask(first, f"{key} show me code")
    expect(first.locator("#sr-answer p").first).to_have_text(INTRO, timeout=10_000)
    expect(answer.locator(".tail pre")).to_be_attached(timeout=10_000)
    url = first.url

    second = context.new_page()
    second.goto(url)
    first.reload()
    for page in (second, first):
        live = page.locator("article.msg-assistant").last
        # Opened while the answer is still being written, with the intro on screen.
        expect(live).to_have_attribute("aria-busy", "true")
        expect(live.locator(".msg-body .blocks")).to_contain_text(INTRO)
    for page in (second, first):
        live = page.locator("article.msg-assistant").last
        expect(live.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        expect(live.locator(".msg-body")).to_contain_text(AFTER)
    for page in (second, first):
        heard = said(page, "#sr-answer")
        assert " ".join(heard) == f"Code block, Python, {CODE_LINES} lines. {AFTER}", heard
        assert said(page, "#sr-status") == ["Answer complete."]
        assert said(page, "#sr-alert") == []
    context.close()


def test_the_first_sends_page_hears_the_answer_from_its_start(
    browser: Browser, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """The first send redirects to the conversation's page; the run has spoken by then."""
    key = f"[early-{uuid.uuid4().hex[:8]}]"
    script = Script.text("First block at once.\n\nSecond", finish=None, name="early")
    fake_llm.when(key, script.then_stall(1.5).then_text(" block later.").then_finish())
    context = recorded_context(browser)
    page = context.new_page()
    sign_up(page, spool_server.url, f"early-{uuid.uuid4().hex[:6]}")
    # The page's stream connects a second late: the first block is long announced.
    connects: list[str] = []

    def late(route: Route) -> None:
        connects.append(route.request.url)
        time.sleep(1.0)
        route.continue_()

    page.route(re.compile(r"/stream"), late)
    answer = ask(page, f"{key} quick")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert said(page, "#sr-answer") == ["First block at once.", "Second block later."]
    assert connects, "the page never connected"
    assert connects[0].endswith("/stream?replay=1"), connects
    assert page.locator("article.msg-assistant .msg-body").inner_text().count("First block") == 1
    context.close()


def test_read_only_when_done_a_cut_still_gives_exactly_one_read_out(
    browser: Browser, spool_server: DaphneServer, proxy: CuttingProxy
) -> None:
    context = recorded_context(browser)
    page = context.new_page()
    sign_up(page, proxy.url, f"cut-done-{uuid.uuid4().hex[:6]}")
    page.get_by_role("switch", name="Read answers aloud as they stream").uncheck()
    expect(page.locator("#sr-status")).to_have_text("Answers are read aloud only when done.")
    answer = ask(page, "[long] cut while quiet")
    with reference_reader(spool_server, context, message_id(answer)) as reference:
        expect(answer.locator(".blocks p").nth(3)).to_be_attached(timeout=10_000)
        assert proxy.cut("/stream", hold_s=OUTAGE_S) == 1
        expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#sr-answer p")).to_have_count(1)
    [read_out] = spoken(reference, "announce-done")
    assert said(page, "#sr-answer") == [read_out]
    assert read_out.endswith("more blocks.")
    context.close()
