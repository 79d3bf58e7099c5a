"""On a phone the sidebar is hidden: the header's Conversations control replaces it.

Each test drives its own browser context (phone viewport, touch, or no
JavaScript) against the real daphne server, and saves screenshots of the key
states under test-artifacts/.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.conftest import FAKE_MODEL
from tests.e2e.test_a11y_axe import check
from tests.e2e.test_chat import ask, sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# An iPhone 12-15 sized screen, below the 760 px breakpoint where the sidebar goes.
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# The [long] answer streams for ~8 s; finishing it takes longer on a busy machine.
LONG_ANSWER_TIMEOUT_MS = 30_000
ANSWER_TIMEOUT_MS = 15_000


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"phone-{name}.png")


def start_conversation(page: Page, base: str, text: str) -> str:
    """A new conversation from the home page, its first answer finished; its URL."""
    page.goto(f"{base}/")
    answer = ask(page, text)
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    return page.url


def toggle(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile(r"^Conversations"))


def dialog(page: Page) -> Locator:
    return page.get_by_role("dialog", name="Conversations")


def phone_page(
    new_context: CreateContextCallback, *, touch: bool = False, javascript: bool = True
) -> Page:
    context = new_context(
        viewport=PHONE, has_touch=touch, is_mobile=touch, java_script_enabled=javascript
    )
    return context.new_page()


def test_phone_list_by_keyboard(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    base = spool_server.url
    page = phone_page(new_context)
    sign_up(page, base, "phone-kay")
    expect(page.locator(".sidebar")).to_be_hidden()
    first_url = start_conversation(page, base, "hello from the phone")

    # A second conversation whose answer is still being written.
    page.goto(f"{base}/")
    answer = ask(page, "[long] a story for the bus")
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.locator(".blocks p").first).to_contain_text("Paragraph 0", timeout=10_000)
    control = page.get_by_role("button", name="Conversations, 1 answer being written")
    expect(control).to_be_visible()
    expect(control).to_have_text("Conversations (1 live)")
    expect(control).to_have_attribute("aria-haspopup", "dialog")
    expect(control).to_have_attribute("aria-expanded", "false")
    expect(dialog(page)).to_be_hidden()
    shot(page, "closed")

    # Tab to the control, Enter opens the list; focus is inside it.
    page.get_by_role("link", name="Spool", exact=True).focus()
    page.keyboard.press("Tab")
    expect(control).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog(page)).to_be_visible()
    expect(control).to_have_attribute("aria-expanded", "true")
    new_link = dialog(page).get_by_role("link", name="New conversation")
    expect(new_link).to_be_focused()
    expect(dialog(page).get_by_role("link", name="hello from the phone")).to_be_visible()
    expect(dialog(page)).to_match_aria_snapshot(
        """
        - dialog "Conversations":
          - heading "Conversations" [level=2]
          - button "Close"
          - link "New conversation"
          - list:
            - listitem:
              - link "[long] a story for the bus"
            - listitem:
              - link "hello from the phone"
        """
    )
    shot(page, "open")

    # Esc closes the list and gives focus back; it must not stop the answer.
    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()
    expect(control).to_be_focused()
    expect(control).to_have_attribute("aria-expanded", "false")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=LONG_ANSWER_TIMEOUT_MS)
    expect(answer.get_by_text("Stopped", exact=False)).to_have_count(0)

    # Open again, arrow down past the current conversation to the other one.
    page.keyboard.press("Enter")
    expect(new_link).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(dialog(page).get_by_role("link", name="[long] a story for the bus")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="hello from the phone")).to_be_visible()
    assert page.url == first_url

    # And from there, the list's New conversation (Tab reaches it too).
    page.get_by_role("link", name="Spool", exact=True).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(dialog(page)).to_be_visible()
    page.keyboard.press("Shift+Tab")
    expect(dialog(page).get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Tab")
    expect(new_link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
    expect(page).to_have_url(f"{base}/")


def test_phone_list_by_tap(new_context: CreateContextCallback, spool_server: DaphneServer) -> None:
    base = spool_server.url
    page = phone_page(new_context, touch=True)
    sign_up(page, base, "phone-tia")
    first_url = start_conversation(page, base, "first by tap")
    start_conversation(page, base, "second by tap")

    toggle(page).tap()
    expect(dialog(page)).to_be_visible()
    expect(dialog(page).get_by_role("link", name="second by tap")).to_have_attribute(
        "aria-current", "page"
    )
    # Close, and a tap on the backdrop beside the panel, both close the list.
    dialog(page).get_by_role("button", name="Close").tap()
    expect(dialog(page)).to_be_hidden()
    toggle(page).tap()
    expect(dialog(page)).to_be_visible()
    page.touchscreen.tap(PHONE["width"] - 10, PHONE["height"] // 2)
    expect(dialog(page)).to_be_hidden()

    toggle(page).tap()
    dialog(page).get_by_role("link", name="first by tap").tap()
    expect(page.get_by_role("heading", name="first by tap")).to_be_visible()
    assert page.url == first_url

    toggle(page).tap()
    dialog(page).get_by_role("link", name="New conversation").tap()
    expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
    expect(page).to_have_url(f"{base}/")


def test_phone_list_without_javascript(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    base = spool_server.url
    page = phone_page(new_context, javascript=False)
    sign_up(page, base, "phone-noah")
    page.get_by_label("Message").fill("plain form, no script")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="plain form, no script")).to_be_visible()
    conversation_url = page.url

    link = page.get_by_role("link", name=re.compile(r"^Conversations"))
    expect(link).to_be_visible()
    expect(toggle(page)).to_have_count(0)
    link.click()
    expect(page).to_have_url(f"{base}/c/")
    expect(page.get_by_role("heading", name="Conversations", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="New conversation")).to_be_visible()
    expect(page.get_by_role("link", name="plain form, no script")).to_be_visible()
    shot(page, "list-page")
    page.get_by_role("link", name="plain form, no script").click()
    expect(page.get_by_role("heading", name="plain form, no script")).to_be_visible()
    assert page.url == conversation_url


def test_desktop_keeps_its_sidebar(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    base = spool_server.url
    context = new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_up(page, base, "desk-dora")
    start_conversation(page, base, "a wide screen")
    sidebar = page.get_by_role("navigation", name="Conversations")
    expect(sidebar).to_be_visible()
    expect(sidebar.get_by_role("link", name="a wide screen")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Conversations"))).to_be_hidden()
    expect(toggle(page)).to_be_hidden()
    box = sidebar.bounding_box()
    assert box is not None
    assert (box["x"], box["width"]) == (0, 260)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "desktop-1280.png")


def test_phone_live_count_follows_answers_without_a_reload(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """The header's "(1 live)" comes with every answer that starts (send,
    Continue, regenerate, edit & resend) and goes with its end (the stream's
    ``done``), on the page as it is: no reload."""
    k = uuid.uuid4().hex[:8]
    # Each answer writes a little, then waits to be stopped: live until Stop.
    held = Script.text("Working on it.", finish=None).then_stall(30)
    fake_llm.when(f"[{k}-held]", held)
    fake_llm.when_continuing(f"[{k}-held]", held)
    fake_llm.when(
        f"[{k}-edit]", Script.text("Edited, then done.", finish=None).then_stall(1.5).then_finish()
    )
    base = spool_server.url
    # axe is an injected script: this context bypasses Spool's CSP (tests/e2e/a11y.py).
    page = new_context(viewport=PHONE, bypass_csp=True).new_page()
    sign_up(page, base, f"phone-live-{k}")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    first = ask(page, "first, answered at once")
    expect(first.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    control = toggle(page)
    expect(control).to_have_text("Conversations")
    page.evaluate("window.spoolNoReload = true")  # gone if the page loads again

    def live(how: str) -> None:
        expect(control).to_have_text("Conversations (1 live)")
        expect(
            page.get_by_role("button", name="Conversations, 1 answer being written")
        ).to_be_visible()
        shot(page, f"live-{how}")

    def stop_and_idle(answer: Locator) -> None:
        expect(answer.locator(".msg-body")).to_contain_text("Working on it.")
        page.get_by_role("button", name="Stop generating").click()
        expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
        expect(control).to_have_text("Conversations")
        expect(page.get_by_role("button", name="Conversations", exact=True)).to_be_visible()

    # Send: the answer starts, then Stop ends it.
    answer = ask(page, f"[{k}-held] second")
    live("send")
    check(page, "phone-live-count")  # the count's new markup passes axe
    page.set_viewport_size(PHONE)  # check() leaves the desktop size
    stop_and_idle(answer)
    # Continue the stopped answer.
    answer.get_by_role("button", name="Continue").click()
    live("continue")
    stop_and_idle(page.locator("article.msg-assistant").last)
    # Retry it (a new version, as Regenerate makes).
    page.locator("article.msg-assistant").last.get_by_role("button", name="Retry").click()
    live("retry")
    stop_and_idle(page.locator("article.msg-assistant").last)
    # Edit & resend the question: its answer ends by itself.
    page.locator("article.msg-user").last.get_by_role("button", name="Edit", exact=True).click()
    page.get_by_label("Edit your question").fill(f"[{k}-edit] second, edited")
    page.locator("article.is-editing").get_by_role("button", name="Send").click()
    live("edit")
    answer = page.locator("article.msg-assistant").last
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(control).to_have_text("Conversations")
    # Regenerate that finished answer.
    answer.get_by_role("button", name="Regenerate answer").click()
    live("regenerate")
    answer = page.locator("article.msg-assistant").last
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(control).to_have_text("Conversations")
    assert page.evaluate("window.spoolNoReload") is True, "the page was loaded again"
