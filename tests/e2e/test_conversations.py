"""Renaming, pinning, deleting and Undo, with the keyboard only (focus and
Enter/Esc, never a pointer), checked by axe in each new state."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.a11y import axe_violations, describe, screenshot
from tests.e2e.test_chat import sign_up
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 15_000
# Counted in sessionStorage, so the count survives the form posts' page loads.
COUNT_POINTERS = """(() => {
  for (const type of ["pointerdown", "mousedown"]) {
    document.addEventListener(type, () => {
      sessionStorage.setItem("pointers", String(Number(sessionStorage.getItem("pointers")) + 1));
    }, true);
  }
})();"""


@pytest.fixture
def page(new_context: CreateContextCallback) -> Page:
    """axe is an injected script: this context bypasses Spool's CSP."""
    context = new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    context.add_init_script(COUNT_POINTERS)
    return context.new_page()


def no_axe_violations(page: Page, state: str) -> None:
    found = axe_violations(page)
    screenshot(page, f"conversations-{state}")
    assert not found, describe(found)


def no_pointer_used(page: Page) -> None:
    assert page.evaluate("() => Number(sessionStorage.getItem('pointers'))") == 0


def open_menu(page: Page) -> None:
    summary = page.get_by_text("Conversation options")
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Rename")).to_be_visible()


def test_rename_pin_delete_and_undo_by_keyboard(page: Page, spool_server: DaphneServer) -> None:
    sign_up(page, spool_server.url, "keys-convs")
    page.get_by_label("Message").focus()
    page.keyboard.type("Plans for the garden")
    page.keyboard.press("Enter")
    expect(page.locator("article.msg-assistant footer")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    # Signing up clicked: proof the counter counts, then the keyboard alone.
    assert page.evaluate("() => Number(sessionStorage.getItem('pointers'))") > 0
    page.evaluate("() => sessionStorage.setItem('pointers', '0')")

    # Rename: the menu's name field, Enter submits.
    open_menu(page)
    no_axe_violations(page, "menu-open")
    name = page.get_by_label("Name", exact=True)
    name.focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("Garden, spring 2027")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Garden, spring 2027")
    expect(page.get_by_role("navigation", name="Conversations")).to_contain_text(
        "Garden, spring 2027"
    )

    # Esc closes the menu and gives focus back to its button.
    open_menu(page)
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Rename")).to_be_hidden()
    assert page.evaluate("() => document.activeElement.textContent") == "Conversation options"

    # Pin: the sidebar gets a "Pinned" group, the title a pin.
    open_menu(page)
    page.get_by_role("button", name="Pin to the top").focus()
    page.keyboard.press("Enter")
    sidebar = page.get_by_role("navigation", name="Conversations")
    expect(sidebar.get_by_role("heading", name="Pinned")).to_be_visible()
    expect(page.get_by_role("img", name="Pinned")).to_be_visible()

    # Delete asks first; Delete is focused, Enter confirms; Undo is focused next.
    open_menu(page)
    page.get_by_role("link", name="Delete…").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Delete “Garden, spring 2027”?")).to_be_visible()
    no_axe_violations(page, "delete-confirm")
    expect(page.get_by_role("button", name="Delete conversation")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Deleted “Garden, spring 2027”.")).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_be_focused()
    expect(sidebar).to_contain_text("No conversations yet.")
    no_axe_violations(page, "undo")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pinned Garden, spring 2027", level=1)).to_be_visible()
    expect(page.locator("article.msg-assistant")).to_have_count(1)
    no_pointer_used(page)
