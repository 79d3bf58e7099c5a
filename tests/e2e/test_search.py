"""Search from the sidebar with the keyboard: the results page shows the
matching snippet marked, passes axe, and leads back to the conversation;
an edited question's old words are not found, its new ones are."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.a11y import axe_violations, describe, screenshot
from tests.e2e.test_chat import sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
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


def test_search_finds_the_version_the_page_shows(
    page: Page, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """An edited question's old words are on no page: search does not find
    them. The edit's are, and its result leads to them."""
    k = uuid.uuid4().hex[:8]
    fake_llm.when(f"[{k}]", Script.text("Plant them in spring."))
    sign_up(page, spool_server.url, f"versions-{k}")
    composer = page.get_by_label("Message")
    answers = page.locator("article.msg-assistant")
    for n, text in enumerate(("a garden question", "when to sow turnips?"), start=1):
        composer.fill(f"[{k}] {text}")
        composer.press("Enter")
        expect(answers.nth(n - 1).locator("footer .metrics")).to_be_visible(timeout=15_000)

    question = page.locator("article.msg-user").last
    question.get_by_role("button", name="Edit", exact=True).press("Enter")
    page.get_by_label("Edit your question").fill(f"[{k}] when to sow parsnips?")
    page.locator("article.is-editing").get_by_role("button", name="Send").press("Enter")
    expect(question.locator(".msg-text")).to_have_text(f"[{k}] when to sow parsnips?")
    expect(answers.last.locator("footer .metrics")).to_be_visible(timeout=15_000)

    search = page.get_by_role("navigation", name="Conversations").get_by_label(
        "Search conversations"
    )
    search.fill(f"{k} turnips")
    search.press("Enter")
    expect(page.get_by_text(f"Nothing matches “{k} turnips”.")).to_be_visible()

    again = page.get_by_role("main").get_by_label("Search conversations")
    again.fill(f"{k} parsnips")
    again.press("Enter")
    expect(page.get_by_text(f"1 conversation matches “{k} parsnips”.")).to_be_visible()
    expect(page.locator(".search-snippet mark")).to_have_text([k, "parsnips"])
    page.locator(".search-results a").first.press("Enter")
    expect(page.locator("article.msg-user .msg-text").last).to_have_text(
        f"[{k}] when to sow parsnips?"
    )
