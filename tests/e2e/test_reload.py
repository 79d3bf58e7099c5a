"""Reload mid-answer in a real browser: the page picks the answer up where it
was, and the finished answer is the one a fresh load of the conversation shows.

The page's first paint after the reload comes from the run's log (the blocks
and the live tail so far, chatapp/live.py), its stream resumes after that
snapshot's offset; the finished page must then be indistinguishable from a
page that only ever saw the stored answer.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import FAKE_MODEL
from tests.e2e.test_chat import ask, sign_up
from tests.e2e.test_retry import screenshot
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

PARTS = 40
# Paragraphs, a list and a fenced code block: blocks, a growing tail (its
# ops) and a code block's tail are all crossed by the reload somewhere.
ANSWER = "\n\n".join(
    f"Part {i}: the river bends past the mill and the **old bridge**, then on."
    if i % 10 != 7
    else f"Part {i}:\n\n- first of {i}\n- second of {i}\n\n```python\nprint({i})\nx = {i} * 2\n```"
    for i in range(PARTS)
)
# ~3,200 characters at 8 per chunk, 25 ms apart: ~10 s, time enough to
# reload at 40 % and to see the page resume before the end.
CHUNK_SIZE, DELAY_S = 8, 0.025
RELOAD_AT = 16  # of PARTS: ~40 %

# The page's own per-render values, not the answer's: the CSRF token in the
# footer's forms (Regenerate) is masked afresh on every render, and the
# stream's done footer, rendered outside any request, has none (htmx sends
# the token as a header: templates/base.html).
_CSRF = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken"[^>]*>')
# htmx's transient swap classes (none should be left, but a late settle would show).
_HTMX_CLASS = re.compile(r"\s*\bhtmx-[a-z-]+")


def normalised(html: str) -> str:
    html = _CSRF.sub("", html)
    # Chromium leaves an empty style attribute on some form controls of a page
    # it loaded (seen on the hidden CSRF input and the footer's copy box), not
    # on swapped-in ones: no style, and no difference to the answer.
    html = html.replace(' style=""', "")
    html = _HTMX_CLASS.sub("", html)
    return re.sub(r">\s+<", "><", html).strip()


def flat(text: str) -> str:
    return " ".join(text.split())


def parts_in(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"Part (\d+):", text)]


def finished_dom(answer: Locator) -> tuple[str, str, str, str]:
    """What a finished answer shows: its body's containers, the answer's HTML
    in them, the footer's HTML, the visible text.

    A page that streamed the answer moves its last block from ``.tail``,
    where it grew, into ``.blocks`` when the stream ends (spool.js
    ``settleTail``), as a fresh load has them.
    """
    body = answer.locator(".msg-body")
    containers = body.evaluate(
        "b => [...b.children].map(c => `${c.tagName} ${c.className} ${c.id}`).join('|')"
    )
    content = body.inner_html()
    return (
        containers,
        normalised(content),
        normalised(answer.locator("footer").inner_html()),
        flat(answer.inner_text()),
    )


def test_reload_at_40_percent_continues_and_ends_as_a_fresh_load(
    page: Page, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = f"[e2e-reload-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.text(ANSWER, chunk_size=CHUNK_SIZE, delay=DELAY_S))
    sign_up(page, spool_server.url, f"browser-reload-{uuid.uuid4().hex[:6]}")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    answer = ask(page, f"{key} tell me about the river")
    expect(answer.locator(".msg-body .blocks")).to_contain_text(
        f"Part {RELOAD_AT}:", timeout=15_000
    )

    shown = flat(answer.locator(".msg-body").inner_text())
    screenshot(page, "reload-before.png")
    page.reload()

    answer = page.locator("article.msg-assistant").last
    # Still being written, and from the first paint it shows at least what
    # the page showed before: everything, in order, nothing twice.
    expect(answer).to_have_attribute("aria-busy", "true")
    first_paint = flat(answer.locator(".msg-body").inner_text())
    screenshot(page, "reload-first-paint.png")
    assert first_paint.startswith(shown), (shown[-200:], first_paint[: len(shown) + 50])
    assert parts_in(first_paint) == list(range(len(parts_in(first_paint))))
    assert len(parts_in(first_paint)) < PARTS, "the reload came too late to see a resume"

    # The resumed stream carries on from there to the end.
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=30_000)
    final_text = answer.locator(".msg-body").inner_text()
    assert parts_in(final_text) == list(range(PARTS))
    assert flat(final_text).startswith(first_paint)
    live = finished_dom(answer)
    screenshot(page, "reload-finished-live.png")

    fresh_page = page.context.new_page()
    fresh_page.goto(page.url)
    fresh = fresh_page.locator("article.msg-assistant").last
    expect(fresh.get_by_role("button", name="Continue")).to_have_count(0)
    screenshot(fresh_page, "reload-finished-fresh-load.png")
    containers, content, footer, text = finished_dom(fresh)
    assert live[0] == containers
    assert live[1] == content, "the answer's HTML differs from a fresh load"
    assert live[2] == footer, "the footer differs from a fresh load"
    assert live[3] == text
    # The stored answer is the model's text, rendered: every part, once, in order.
    assert parts_in(fresh.locator(".msg-body").inner_text()) == list(range(PARTS))
    fresh_page.close()
