"""What assistive technology sees of a conversation: roles, names and states.

An aria snapshot is Playwright's view of the accessibility tree (roles,
names, levels, states). It does not show ``aria-live``, ``aria-busy`` or
``aria-atomic``; those are asserted as attributes.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.a11y import screenshot
from tests.e2e.test_chat import sign_up
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 15_000

# A finished exchange: the transcript holds exactly an article per message,
# each named by its own level-2 heading, and no Stop anywhere.
FINISHED = """
- log "Conversation":
  - /children: equal
  - article "You said":
    - heading "You said" [level=2]
    - text: hello there
  - article "Assistant":
    - heading "Assistant" [level=2]
    - paragraph:
      - strong: fake model
    - list:
      - listitem: one
      - listitem: two
    - text: python
    - button "Copy python code": Copy
    - code: print('hi')
    - text: /first token \\d+ ms/
  - article "You said":
    - heading "You said" [level=2]
    - text: and another
  - article "Assistant":
    - heading "Assistant" [level=2]
"""

# A message being written is an article with its heading like any other.
LIVE = """
- article "Assistant":
  - heading "Assistant" [level=2]
"""


def send(page: Page, text: str) -> Locator:
    composer = page.get_by_label("Message")
    composer.fill(text)
    composer.press("Enter")
    return page.locator("article.msg-assistant").last


def test_a_finished_conversation_is_articles_with_headings(
    page: Page, spool_server: DaphneServer
) -> None:
    sign_up(page, spool_server.url, "tree-ada")
    stop = page.get_by_role("button", name="Stop generating")
    first = send(page, "hello there")
    expect(first.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    second = send(page, "and another")
    expect(second.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    transcript = page.get_by_role("log", name="Conversation")
    expect(transcript).to_match_aria_snapshot(FINISHED)
    expect(transcript).to_have_attribute("aria-live", "off")
    expect(stop).to_have_count(0)
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator("[aria-busy]")).to_have_count(0)
    # The read-out regions: live, named where a log, never busy.
    expect(page.get_by_role("log", name="Answer read-out")).to_be_attached()
    expect(page.get_by_role("status")).to_have_count(1)
    # #sr-alert; the composer's error line is hidden while empty.
    expect(page.get_by_role("alert")).to_have_count(1)


def test_stop_exists_only_while_an_answer_is_written(
    page: Page, spool_server: DaphneServer
) -> None:
    sign_up(page, spool_server.url, "tree-bob")
    answer = send(page, "[code] a fence that stays open")
    expect(answer.locator("pre code").first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    stop = page.get_by_role("button", name="Stop generating")
    expect(stop).to_be_visible()
    expect(stop).to_have_attribute("aria-keyshortcuts", "Escape")
    expect(page.get_by_role("button", name="Send")).to_have_count(0)
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer).to_match_aria_snapshot(LIVE)

    stop.click()
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    expect(stop).to_have_count(0)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    # Stop vanished under the pointer's focus: the keyboard lands in the composer.
    expect(page.get_by_label("Message")).to_be_focused()


# A popup of the kind other controls add (a menu, a tooltip): Esc is its own
# first, so it hides itself on Esc, as such a control would.
POPUP = """kind => {
  const el = document.createElement("div");
  el.id = "test-popup";
  if (kind === "tooltip") { el.setAttribute("role", "tooltip"); el.textContent = "A hint"; }
  else { el.setAttribute("role", "menu"); el.innerHTML = '<div role="menuitem">One</div>'; }
  document.body.append(el);
  document.addEventListener("keydown", evt => { if (evt.key === "Escape") el.hidden = true; });
}"""


@pytest.mark.parametrize("kind", ["menu", "tooltip"])
def test_esc_closes_an_open_popup_before_it_stops(
    new_context: CreateContextCallback, spool_server: DaphneServer, kind: str
) -> None:
    page = new_context().new_page()
    sign_up(page, spool_server.url, f"tree-esc-{kind}")
    answer = send(page, "[code] keep writing")
    expect(answer.locator("pre code").first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    page.evaluate(POPUP, kind)
    popup = page.locator("#test-popup")
    expect(popup).to_be_visible()

    page.keyboard.press("Escape")
    expect(popup).to_be_hidden()
    # Still writing: that Esc was the popup's.
    page.wait_for_timeout(500)
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(page.get_by_role("button", name="Stop generating")).to_be_visible()

    page.keyboard.press("Escape")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()


# The focused element's outline lies wholly inside the code block's box,
# which clips its overflow (rounded corners): else focus is not visible.
OUTLINE_SHOWS = """el => {
  const s = getComputedStyle(el);
  const grow = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth);
  const r = el.getBoundingClientRect();
  const box = el.closest(".code-block").getBoundingClientRect();
  return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2
    && r.top - grow >= box.top && r.left - grow >= box.left
    && r.right + grow <= box.right && r.bottom + grow <= box.bottom;
}"""


def test_code_wider_than_a_phone_can_be_scrolled_from_the_keyboard(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    page = new_context(viewport={"width": 390, "height": 844}).new_page()
    sign_up(page, spool_server.url, "tree-phone")
    page.get_by_label("Model").select_option("demo")
    answer = send(page, "show me some code")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    code = answer.locator("pre").first
    expect(code).to_have_attribute("tabindex", "0")
    # Tab reaches it (from the Copy button just before it); arrows scroll it.
    answer.get_by_role("button", name="Copy python code").focus()
    page.keyboard.press("Tab")
    expect(code).to_be_focused()
    assert code.evaluate(OUTLINE_SHOWS), "the focus outline is clipped by the code block's box"
    page.keyboard.press("ArrowRight")
    page.wait_for_function("el => el.scrollLeft > 0", arg=code.element_handle(), timeout=3_000)
    screenshot(page, "structure-code-focused-phone")
    # Wide enough for the code: no Tab stop that does nothing.
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(code).not_to_have_attribute("tabindex", "0")
