"""Spool by keyboard alone: focus, Tab, Enter, Space and Esc; never a mouse.

An init script records every trusted mouse, pointer, touch or wheel event,
and every click that came from a pointing device (a click from Enter or Space
has ``detail == 0`` and no pointer type). After every step the test asserts
that none arrived and that focus is on an element, never on ``<body>``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e import live_regions
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.client import PASSWORD
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
ANSWER_TIMEOUT_MS = 30_000
# More Tab presses than any page here has stops between two controls.
MAX_TABS = 40

NO_POINTER = r"""
(() => {
  if (window.__pointerEvents) return;
  const seen = [];
  window.__pointerEvents = seen;
  const KINDS = ["mousedown", "mouseup", "mousemove", "mouseover", "mouseout", "mouseenter",
    "mouseleave", "pointerdown", "pointerup", "pointermove", "pointerover", "pointerout",
    "pointerenter", "pointerleave", "pointercancel", "touchstart", "touchend", "touchmove",
    "contextmenu", "dblclick", "auxclick", "wheel"];
  const name = (el) =>
    el && el.nodeType === 1 ? el.tagName + (el.id ? "#" + el.id : "") : String(el);
  const note = (what, e) => seen.push(what + " on " + name(e.target));
  for (const kind of KINDS) {
    window.addEventListener(kind, (e) => { if (e.isTrusted) note(kind, e); }, true);
  }
  // Enter and Space make a click too: detail 0, no pointer type. A pointer's has either.
  window.addEventListener("click", (e) => {
    if (e.isTrusted && (e.detail > 0 || e.pointerType)) note("pointer click", e);
  }, true);
})();
"""


class Keyboard:
    """The page, driven by keys only, checked after every step."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def check(self, step: str) -> None:
        events = self.page.evaluate("() => window.__pointerEvents || []")
        assert events == [], f"{step}: pointer events {events}"
        on_body = self.page.evaluate(
            "() => !document.activeElement || document.activeElement === document.body"
        )
        assert not on_body, f"{step}: focus fell to <body>"

    def press(self, key: str, step: str, *, navigates: bool = False) -> None:
        if navigates:
            with self.page.expect_navigation():
                self.page.keyboard.press(key)
        else:
            self.page.keyboard.press(key)
        self.check(step)

    def type(self, text: str, step: str) -> None:
        self.page.keyboard.type(text)
        self.check(step)

    def tab_to(self, target: Locator, *, backwards: bool = False) -> None:
        """Tab (or Shift+Tab) until ``target`` has focus: it is reachable by keyboard."""
        key = "Shift+Tab" if backwards else "Tab"
        for _ in range(MAX_TABS):
            if target.evaluate("el => el === document.activeElement"):
                self.check(f"tabbed to {target}")
                return
            self.page.keyboard.press(key)
            self.check(f"{key} towards {target}")
        raise AssertionError(f"{target} not reached in {MAX_TABS} {key} presses")


def keyboard_page(new_context: CreateContextCallback, **options: object) -> tuple[Page, Keyboard]:
    context = new_context(**options)  # type: ignore[arg-type]
    context.add_init_script(NO_POINTER)
    live_regions.install(context)
    page = context.new_page()
    return page, Keyboard(page)


def sign_up_by_keyboard(page: Page, keys: Keyboard, base: str, name: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    expect(page.get_by_label("Username")).to_be_focused()  # the form's autofocus
    keys.check("sign-up page")
    keys.type(name, "username")
    keys.tab_to(page.get_by_label("Password", exact=True))
    keys.type(PASSWORD, "password")
    keys.tab_to(page.get_by_label("Password confirmation"))
    keys.type(PASSWORD, "confirmation")
    keys.press("Enter", "sign up", navigates=True)
    expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
    expect(page.get_by_label("Message")).to_be_focused()
    keys.check("home page")


def answer(page: Page) -> Locator:
    return page.locator("article.msg-assistant").last


def test_send_stop_retry_and_copy_by_keyboard(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    base = spool_server.url
    page, keys = keyboard_page(
        new_context,
        viewport={"width": 1280, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )
    sign_up_by_keyboard(page, keys, base, f"keys-{uuid.uuid4().hex[:6]}")
    composer = page.get_by_label("Message")

    # Send: the first message makes the conversation (a full page load).
    keys.type("[long] a story to stop", "first message")
    keys.press("Enter", "send", navigates=True)
    expect(page.get_by_role("heading", name="[long] a story to stop")).to_be_visible()
    expect(composer).to_be_focused()
    keys.check("conversation page after the first send")
    expect(answer(page).locator(".blocks p").nth(1)).to_be_attached(timeout=10_000)

    # Stop with Esc from the composer.
    keys.press("Escape", "Esc stops")
    expect(answer(page).get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(composer).to_be_focused()
    keys.check("stopped by Esc")

    # Stop with Space on the Stop button: focus comes back to the composer.
    keys.type("[long] another story", "second message")
    keys.press("Enter", "send the second")
    # Sent as a message (after Esc, Enter once posted it to the old Stop URL and lost it).
    expect(page.locator("article.msg-user .msg-text").last).to_have_text("[long] another story")
    expect(composer).to_have_value("")
    expect(answer(page).locator(".blocks p").nth(1)).to_be_attached(timeout=10_000)
    stop = page.get_by_role("button", name="Stop generating")
    keys.tab_to(stop)
    keys.press("Space", "Space on Stop")
    expect(answer(page).get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(stop).to_have_count(0)
    expect(composer).to_be_focused()
    keys.check("stopped by the button")
    fake_llm.wait_for_hangup(3, prompt="another story")

    # Retry after an upstream failure; the retried answer has a code block.
    key = f"[fail-once-{uuid.uuid4().hex[:8]}]"
    failing = Script.text("Half an answer", chunk_size=3, delay=0.05, finish=None)
    fake_llm.when(key, failing.then_stream_error("Upstream model crashed"), times=1)
    keys.type(f"{key} try this", "third message")
    keys.press("Enter", "send the third")
    expect(page.locator("article.msg-user .msg-text").last).to_have_text(f"{key} try this")
    failed = answer(page)
    retry = failed.get_by_role("button", name="Retry")
    expect(retry).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(failed.locator(".msg-body")).to_contain_text("Half an answer")
    keys.check("failed")
    keys.tab_to(retry, backwards=True)
    keys.press("Enter", "Enter on Retry")
    # A new version streamed in place of the failed one (which stays: "1 of 2").
    expect(page.locator("article.msg-assistant")).to_have_count(3)
    retried = answer(page)
    expect(retried.get_by_role("group", name="Version 2 of 2")).to_be_visible(
        timeout=ANSWER_TIMEOUT_MS
    )
    expect(retried.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(retried.locator(".msg-body")).to_contain_text("Hello from the fake model")
    keys.check("retried")

    # Copy the retried answer's code block, and hear that it worked.
    copy = retried.get_by_role("button", name="Copy python code")
    # Back from the composer: Retry's button went with the failed version.
    keys.tab_to(copy, backwards=True)
    keys.press("Enter", "Enter on Copy")
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == "print('hi')\n"
    expect(page.locator("#sr-status")).to_have_text("Code copied.")
    page.wait_for_timeout(300)
    status = [a.text for a in live_regions.announcements(page, "#sr-status")]
    assert status.count("Code copied.") == 1, status
    keys.check("copied")


def test_phone_conversation_list_by_keyboard(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    base = spool_server.url
    page, keys = keyboard_page(new_context, viewport=PHONE)
    sign_up_by_keyboard(page, keys, base, f"keys-phone-{uuid.uuid4().hex[:6]}")
    keys.type("hello from a phone keyboard", "message")
    keys.press("Enter", "send", navigates=True)
    expect(page.get_by_role("heading", name="hello from a phone keyboard")).to_be_visible()
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    keys.check("answered")

    control = page.get_by_role("button", name=re.compile(r"^Conversations"))
    keys.tab_to(control, backwards=True)
    keys.press("Enter", "open the list")
    dialog = page.get_by_role("dialog", name="Conversations")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("link", name="New conversation")).to_be_focused()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "keyboard-phone-list.png")
    keys.press("ArrowDown", "down the list")
    current = dialog.get_by_role("link", name="hello from a phone keyboard")
    expect(current).to_be_focused()
    expect(current).to_have_attribute("aria-current", "page")
    keys.press("Escape", "close the list")
    expect(dialog).to_be_hidden()
    expect(control).to_be_focused()
    keys.check("list closed")

    # The read-aloud switch is reachable and works from the keyboard here too.
    switch = page.get_by_role("switch", name="Read answers aloud as they stream")
    keys.tab_to(switch)
    keys.press("Space", "switch off")
    expect(page.locator("#sr-status")).to_have_text("Answers are read aloud only when done.")
    expect(switch).not_to_be_checked()
    page.screenshot(path=ARTIFACTS / "keyboard-phone-switch.png")
