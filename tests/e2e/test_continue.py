"""Continue in a real browser, by keyboard only: Stop (or a failure midway),
then Continue finishes the same answer in place, and what the page shows is
what was stored."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.conftest import FAKE_MODEL
from tests.e2e.test_a11y_axe import check
from tests.e2e.test_chat import sign_up
from tests.e2e.test_keyboard import keyboard_page, sign_up_by_keyboard
from tests.e2e.test_retry import screenshot
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer
from tests.test_continue_failed_flow import PARTIAL
from tests.test_continue_flow import REPEAT_WORDS, WHOLE, no_doubled_phrase

pytestmark = pytest.mark.e2e

# Tab stops between the composer and the Continue button, at most (Retry, copy buttons…).
MAX_TABS = 8


def words(text: str) -> list[str]:
    return text.split()


def test_stop_then_continue_with_the_keyboard(
    page: Page, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    key = f"[e2e-cont-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.text(WHOLE, chunk_size=8, delay=0.03))
    fake_llm.when_continuing(
        key, Script.continuation(WHOLE, repeat_words=REPEAT_WORDS, chunk_size=6, delay=0.01)
    )
    sign_up(page, spool_server.url, f"browser-cont-{uuid.uuid4().hex[:6]}")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    composer = page.get_by_label("Message")
    composer.fill(f"{key} tell me about the river")
    composer.press("Enter")
    answer = page.locator("article.msg-assistant").last
    expect(answer.locator(".blocks p").nth(4)).to_be_attached(timeout=15_000)

    composer = page.get_by_label("Message")
    composer.focus()
    page.keyboard.press("Escape")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(composer).to_be_focused()
    answer_id = answer.get_attribute("id")
    assert answer_id is not None
    stopped_text = answer.locator(".msg-body").inner_text()
    assert "Part 39" not in stopped_text
    continue_button = answer.get_by_role("button", name="Continue")
    expect(continue_button).to_be_visible()
    expect(answer.get_by_role("button", name="Retry")).to_be_visible()
    screenshot(page, "continue-offered.png")

    # From the composer, back through the answer's footer to Continue.
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Continue":
            break
    expect(continue_button).to_be_focused()
    with page.expect_response(re.compile(r"/continue$")) as continued:
        page.keyboard.press("Enter")
    assert continued.value.status == 200

    answer = page.locator(f"#{answer_id}")
    expect(page.locator("article.msg-assistant")).to_have_count(1)  # the same answer
    # Continue is gone with the finished footer: focus goes to the composer, where Esc stops.
    expect(page.get_by_label("Message")).to_be_focused()
    expect(page.get_by_role("button", name="Stop generating")).to_be_visible()
    # The stored part is there from the first paint of the live answer.
    expect(answer.locator(".msg-body")).to_contain_text(stopped_text.split("\n")[0])
    expect(answer.locator(".msg-body")).to_contain_text("Part 39", timeout=20_000)
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=10_000)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(answer.get_by_role("button", name="Continue")).to_have_count(0)
    expect(page.locator("#sr-status")).to_have_text("Answer complete.")
    screenshot(page, "continue-complete.png")

    shown = answer.locator(".msg-body").inner_text()
    stored = spool_server.wait_status(answer_id.removeprefix("m-"), "complete")["content"]
    assert stored == WHOLE
    assert words(shown) == words(stored)
    no_doubled_phrase(shown)

    # A fresh load of the finished conversation shows the same answer.
    page.reload()
    assert words(page.locator(f"#{answer_id} .msg-body").inner_text()) == words(stored)


def test_continue_by_keyboard_leaves_focus_in_the_composer_where_esc_stops_it(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """Keyboard alone, checked after every key (never a pointer, focus never
    on <body>): Continue's button goes with the finished footer it was in, and
    focus lands in the composer, as after a send, Regenerate, Retry or Edit &
    resend (tests/e2e/test_versions.py); Esc stops the continuation from there
    and focus stays."""
    key = f"[e2e-kb-cont-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.text(WHOLE, chunk_size=8, delay=0.03))
    # Slow enough to be stopped while it streams.
    fake_llm.when_continuing(key, Script.text(" and on" * 300, chunk_size=4, delay=0.05))
    page, keys = keyboard_page(new_context, viewport={"width": 1280, "height": 800})
    sign_up_by_keyboard(page, keys, spool_server.url, f"kb-cont-{uuid.uuid4().hex[:6]}")
    composer = page.get_by_label("Message")
    stop = page.get_by_role("button", name="Stop generating")
    keys.type(f"{key} tell me about the river", "the question")
    keys.press("Enter", "send", navigates=True)
    answer = page.locator("article.msg-assistant").last
    expect(answer.locator(".blocks p").nth(2)).to_be_attached(timeout=15_000)
    keys.press("Escape", "Esc stops the first answer")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(composer).to_be_focused()

    keys.tab_to(answer.get_by_role("button", name="Continue"), backwards=True)
    with page.expect_response(re.compile(r"/continue$")) as continued:
        keys.press("Enter", "Enter on Continue")
    assert continued.value.status == 200
    expect(stop).to_be_visible()
    expect(answer.locator(".msg-body")).to_contain_text("and on", timeout=15_000)
    expect(composer).to_be_focused()
    keys.check("continuing")
    keys.press("Escape", "Esc stops the continuation")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(stop).to_have_count(0)
    expect(composer).to_be_focused()
    keys.check("continuation stopped")


def test_a_failed_answer_is_continued_by_keyboard(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """The model server drops the connection midway: the answer shows what it
    had and "Failed", with Continue before Retry. Shift+Tab from the composer
    to Continue, Enter: the same answer goes on and completes, no "Failed"
    left, focus in the composer; axe finds nothing in either state."""
    key = f"[e2e-fail-cont-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(
        key, Script.text(PARTIAL, chunk_size=20, delay=0.03, finish=None).then_abrupt_close()
    )
    fake_llm.when_continuing(
        key, Script.continuation(WHOLE, repeat_words=REPEAT_WORDS, chunk_size=6, delay=0.005)
    )
    # axe is an injected script: this context bypasses Spool's CSP.
    page, keys = keyboard_page(
        new_context, viewport={"width": 1280, "height": 800}, bypass_csp=True
    )
    sign_up_by_keyboard(page, keys, spool_server.url, f"kb-fail-{uuid.uuid4().hex[:6]}")
    composer = page.get_by_label("Message")
    keys.type(f"{key} tell me about the river", "the question")
    keys.press("Enter", "send", navigates=True)
    answer = page.locator("article.msg-assistant").last
    expect(answer.get_by_text("The connection to the model broke off mid-answer.")).to_be_visible(
        timeout=15_000
    )
    expect(composer).to_be_focused()
    keys.check("failed")
    buttons = answer.locator("footer .msg-actions button:visible")
    expect(buttons.nth(0)).to_have_text("Continue")
    expect(buttons.nth(1)).to_have_text("Retry")
    check(page, "continue-after-failure")
    expect(composer).to_be_focused()

    keys.tab_to(answer.get_by_role("button", name="Continue"), backwards=True)
    with page.expect_response(re.compile(r"/continue$")) as continued:
        keys.press("Enter", "Enter on Continue")
    assert continued.value.status == 200
    answer = page.locator("article.msg-assistant").last
    expect(page.locator("article.msg-assistant")).to_have_count(1)  # the same answer
    expect(composer).to_be_focused()
    keys.check("continuing")
    expect(answer.locator(".msg-body")).to_contain_text("Part 39", timeout=20_000)
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=10_000)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator("#sr-status")).to_have_text("Answer complete.")
    expect(answer.get_by_text("Failed")).to_have_count(0)
    expect(answer.get_by_role("button", name="Continue")).to_have_count(0)
    expect(composer).to_be_focused()
    keys.check("continued")
    check(page, "continued-after-failure")

    answer_id = answer.get_attribute("id")
    assert answer_id is not None
    stored = spool_server.wait_status(answer_id.removeprefix("m-"), "complete")["content"]
    assert stored == WHOLE
    shown = answer.locator(".msg-body").inner_text()
    assert words(shown) == words(stored)
    no_doubled_phrase(shown)
