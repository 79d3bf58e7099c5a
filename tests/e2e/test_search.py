"""Search from the sidebar with the keyboard: the results page shows the
matching snippet marked, passes axe, and leads back to the conversation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.a11y import axe_violations, describe, screenshot
from tests.e2e.test_chat import sign_up
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(new_context: CreateContextCallback) -> Page:
    """axe is an injected script: this context bypasses Spool's CSP."""
    return new_context(bypass_csp=True, viewport={"width": 1280, "height": 800}).new_page()


def test_search_by_keyboard(page: Page, spool_server: DaphneServer) -> None:
    sign_up(page, spool_server.url, "searcher")
    page.get_by_label("Message").focus()
    page.keyboard.type("Which tomatoes grow well on a balcony?")
    page.keyboard.press("Enter")
    expect(page.locator("article.msg-assistant footer")).to_be_visible(timeout=15_000)

    page.get_by_role("navigation", name="Conversations").get_by_label(
        "Search conversations"
    ).focus()
    page.keyboard.type("balcony")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
    expect(page.get_by_text("1 conversation matches “balcony”.")).to_be_visible()
    expect(page.locator(".search-snippet mark")).to_have_text("balcony")
    found = axe_violations(page)
    screenshot(page, "search-results")
    assert not found, describe(found)

    page.get_by_role("link", name="Which tomatoes grow well on a balcony?").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Which tomatoes grow well on a balcony?"
    )
