"""A new user's first minutes, in a real browser against a real daphne server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.client import PASSWORD

pytestmark = pytest.mark.e2e


def sign_up(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="New conversation")).to_be_visible()


def ask(page: Page, text: str) -> Locator:
    """Type into the composer, press Enter; the newest answer on the page."""
    composer = page.get_by_label("Message")
    composer.fill(text)
    composer.press("Enter")
    return page.locator("article.msg-assistant").last


def test_send_watch_stream_stop_and_reload(page: Page, spool_server, fake_llm) -> None:
    base = spool_server.url
    sign_up(page, base, "browser-ada")
    composer = page.get_by_label("Message")
    answer = ask(page, "[long] tell me a story")
    expect(answer).to_have_attribute("aria-busy", "true")
    # Text streams in as formatted HTML, block after block.
    expect(answer.locator(".blocks p").first).to_contain_text("Paragraph 0", timeout=10_000)
    expect(answer.locator(".blocks p").nth(3)).to_be_attached(timeout=10_000)
    stop = page.get_by_role("button", name="Stop generating")
    expect(stop).to_be_visible()

    composer.focus()
    page.keyboard.press("Escape")

    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(answer).not_to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(composer).to_be_focused()
    fake_llm.wait_for_hangup(3, prompt="tell me a story")
    shown = answer.locator(".msg-body").inner_text()
    assert "Paragraph 39" not in shown

    page.reload()
    reloaded = page.locator("article.msg-assistant").last
    expect(reloaded.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(reloaded.locator(".msg-body")).to_contain_text("Paragraph 0")
    assert reloaded.locator(".msg-body").inner_text().strip() == shown.strip()


def test_follow_up_streams_in_place_and_keeps_text_on_error(page: Page, spool_server) -> None:
    base = spool_server.url
    sign_up(page, base, "browser-bob")
    composer = page.get_by_label("Message")
    first = ask(page, "hello there")
    expect(first.locator("footer .metrics")).to_be_visible(timeout=15_000)
    url = page.url

    ask(page, "a second question")
    expect(page.locator("article.msg-user")).to_have_count(2)
    expect(page.locator("article.msg-assistant")).to_have_count(2)
    assert page.url == url, "the follow-up must not reload the page"
    expect(composer).to_have_value("")
    expect(composer).to_be_focused()
    expect(page.locator("article.msg-assistant").last.locator("footer .metrics")).to_be_visible(
        timeout=15_000
    )

    # Shift+Enter adds a line; an empty message is refused with the reason.
    composer.press("Shift+Enter")
    expect(composer).to_have_value("\n")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-error")).to_have_text(re.compile("Write a message first"))
    expect(composer).to_have_attribute("aria-invalid", "true")


def test_code_is_highlighted_while_the_fence_is_still_open(page: Page, spool_server) -> None:
    base = spool_server.url
    sign_up(page, base, "browser-cy")
    answer = ask(page, "[code] write some python")
    code = answer.locator("pre code.language-python")
    expect(code).to_be_visible(timeout=10_000)
    # Pygments classes on tokens while the answer (and the fence) is still streaming.
    expect(code.locator("span.mi").first).to_be_attached(timeout=10_000)
    expect(answer).to_have_attribute("aria-busy", "true")
    assert "```" not in answer.locator(".msg-body").inner_text()
    page.get_by_role("button", name="Stop generating").click()
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()


BODY_HTML = """el => [...el.querySelectorAll(':scope > .blocks, :scope > .tail')]
    .map(part => part.innerHTML).join('')"""


def test_streamed_page_equals_the_saved_answer(page: Page, spool_server) -> None:
    """The DOM built from blocks, tails and tail-appends is the saved answer."""
    base = spool_server.url
    sign_up(page, base, "browser-dee")
    answer = ask(page, "[long] check what the page built")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=20_000)
    streamed = answer.locator(".msg-body").evaluate(BODY_HTML)
    page.reload()
    saved = page.locator("article.msg-assistant").last.locator(".msg-body").evaluate(BODY_HTML)
    assert re.sub(r'\s+class="htmx-[^"]*"', "", streamed).strip() == saved.strip()
