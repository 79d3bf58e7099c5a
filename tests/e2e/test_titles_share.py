"""Titles arriving live, and sharing then revoking, in Chromium with the
keyboard only (focus and Enter, never a pointer, after signing up).

The title comes on the answer's own stream: the list, the heading and the
tab's title change without a reload, and nothing is said about it. The share
link opens in a fresh, signed-out context: the transcript, no composer, no
controls, 0 axe violations (both colour schemes, desktop and phone); after
Stop sharing it is a 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.conftest import spool_env
from tests.e2e import live_regions
from tests.e2e.a11y import screenshot
from tests.e2e.test_a11y_axe import check
from tests.e2e.test_chat import sign_up
from tests.e2e.test_conversations import COUNT_POINTERS, no_pointer_used, open_menu
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.daphne import DaphneServer, run_daphne

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 20_000
QUESTION = "Show me a table comparing SSE and WebSockets"
FALLBACK = QUESTION  # the first words: short enough to be the whole question
TITLE = "Table comparing SSE and WebSockets"  # the demo model's, from the question


@pytest.fixture(scope="module")
def titled_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    # The demo model at a reading pace: the answer takes seconds, so the page
    # shows the first words before the title arrives.
    env = spool_env(
        fake_llm, SPOOL_TITLES="1", SPOOL_DEFAULT_MODEL="demo", SPOOL_DEMO_TOKEN_DELAY_S="0.03"
    )
    with run_daphne(tmp_path_factory.mktemp("titles-e2e"), env) as server:
        yield server


def _context(new_context: CreateContextCallback) -> BrowserContext:
    """axe is an injected script: these contexts bypass Spool's CSP."""
    context = new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    live_regions.install(context)
    return context


@pytest.fixture
def page(new_context: CreateContextCallback) -> Page:
    context = _context(new_context)
    context.add_init_script(COUNT_POINTERS)
    return context.new_page()


def _start_by_keyboard(page: Page, base: str, name: str, text: str) -> None:
    sign_up(page, base, name)
    page.evaluate("() => sessionStorage.setItem('pointers', '0')")
    page.get_by_label("Message").focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_the_title_arrives_live_without_a_reload(page: Page, titled_server: DaphneServer) -> None:
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    _start_by_keyboard(page, titled_server.url, "titles-live", QUESTION)
    heading = page.get_by_role("heading", level=1)
    sidebar = page.get_by_role("navigation", name="Conversations")
    # The page the send lands on: the first words, while the answer streams.
    expect(heading).to_have_text(FALLBACK)
    expect(page.locator("article.msg-assistant.is-live")).to_have_count(1)
    assert page.title() == f"{FALLBACK} · Spool"
    loaded = len(navigations)
    screenshot(page, "titles-first-words")

    expect(heading).to_have_text(TITLE, timeout=ANSWER_TIMEOUT_MS)
    expect(sidebar.get_by_role("link", name=TITLE)).to_have_attribute("aria-current", "page")
    expect(page).to_have_title(f"{TITLE} · Spool")
    expect(page.locator("article.msg-assistant footer")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert len(navigations) == loaded, f"the page was reloaded: {navigations[loaded:]}"
    # The phone's list dialog has the same entry, renamed too.
    expect(page.locator("#conversations-dialog").get_by_text(TITLE)).to_have_count(1)
    # So does the Rename field (the user had not touched it).
    expect(page.get_by_label("Name", exact=True)).to_have_value(TITLE)
    screenshot(page, "titles-arrived")

    # Silent: the answer is read out as usual, the title is not.
    said = live_regions.announcements(page)
    assert any(a.text == "Answer complete." for a in said), said
    assert not [a for a in said if "Table comparing" in a.text], said
    # Kept on reload, as saved.
    page.reload()
    expect(heading).to_have_text(TITLE)
    no_pointer_used(page)


def test_share_then_revoke_by_keyboard(
    page: Page, titled_server: DaphneServer, new_context: CreateContextCallback
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _start_by_keyboard(page, titled_server.url, "share-keys", "Tell me about the garden birds")
    expect(page.locator("article.msg-assistant footer")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text("Garden birds")

    # Share: the menu comes back open, on "Copy link", which says what happened.
    open_menu(page)
    page.get_by_role("button", name="Share a read-only link").focus()
    page.keyboard.press("Enter")
    copy = page.get_by_role("button", name="Copy link")
    expect(copy).to_be_focused()
    expect(page.get_by_text("Link ready: copy it and send it.")).to_be_visible()
    link = page.get_by_label("Read-only link", exact=False).input_value()
    assert "/s/" in link
    check(page, "share-created")  # axe: both schemes, desktop and phone
    expect(copy).to_be_focused()
    page.keyboard.press("Enter")
    # Its name changes for a moment: found by its class, not its name.
    expect(page.locator("button.copy-link")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    copied = [a.text for a in live_regions.announcements(page, "#sr-status")]
    assert copied == ["Link copied."], copied
    # A moment later the button is named for what it does again, focus kept on it.
    expect(copy).to_have_text("Copy link", timeout=5_000)
    expect(copy).to_be_focused()
    assert errors == [], errors

    # Signed out, in a fresh context: the transcript, and nothing to write with.
    visitor = _context(new_context).new_page()
    response = visitor.goto(link)
    assert response is not None
    assert response.status == 200
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Garden birds")
    conversation = visitor.get_by_role("region", name="Conversation")
    expect(conversation.get_by_text("Tell me about the garden birds")).to_be_visible()
    expect(conversation.get_by_role("heading", name="Hello from the demo model")).to_be_visible()
    expect(visitor.get_by_label("Message")).to_have_count(0)
    expect(visitor.locator("form")).to_have_count(0)
    expect(visitor.get_by_role("button")).to_have_count(0)
    expect(visitor.get_by_text("Log out")).to_have_count(0)
    check(visitor, "share-visitor")

    # Stop sharing: the page says so, focus on "Share a read-only link".
    page.get_by_role("button", name="Stop sharing").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Sharing stopped: the link no longer works.")).to_be_visible()
    expect(page.get_by_role("button", name="Share a read-only link")).to_be_focused()
    screenshot(page, "share-revoked")
    response = visitor.reload()
    assert response is not None
    assert response.status == 404
    no_pointer_used(page)
