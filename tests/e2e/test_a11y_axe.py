"""axe-core on every page and every state of an answer: 0 violations.

Each state is checked in light and dark colour schemes, on a desktop and at
390 px wide (a phone), with the WCAG 2.0-2.2 A/AA rules and axe's best
practices. axe sees names, roles, attributes, contrast and scrolling regions;
what is spoken and when is test_a11y_speech.py's business.
"""

from __future__ import annotations

from typing import Literal

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.a11y import axe_violations, describe, screenshot
from tests.e2e.test_chat import sign_up
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}
ANSWER_TIMEOUT_MS = 15_000
NEXT_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


@pytest.fixture
def page(new_context: CreateContextCallback) -> Page:
    """axe is an injected script: this context bypasses Spool's CSP."""
    return new_context(bypass_csp=True, viewport=SIZES["desktop"]).new_page()


def check(page: Page, state: str) -> None:
    """0 violations in both schemes at both sizes; screenshots to look at."""
    problems = []
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        # The page adapts to a new size on its next frame (spool.js: reachScrollers).
        page.evaluate(NEXT_FRAMES)
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            if found := axe_violations(page):
                problems.append(f"--- {state}, {scheme}, {size_name}:\n{describe(found)}")
            screenshot(page, f"axe-{state}-{scheme}-{size_name}")
    page.set_viewport_size(SIZES["desktop"])
    page.emulate_media(color_scheme="light")
    assert not problems, "\n".join(problems)


def send(page: Page, text: str) -> Locator:
    composer = page.get_by_label("Message")
    composer.fill(text)
    composer.press("Enter")
    return page.locator("article.msg-assistant").last


def test_sign_in_and_sign_up(page: Page, spool_server: DaphneServer) -> None:
    page.goto(f"{spool_server.url}/accounts/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    check(page, "sign-in")
    page.goto(f"{spool_server.url}/accounts/signup/")
    expect(page.get_by_role("button", name="Sign up")).to_be_visible()
    check(page, "sign-up")


def test_home_and_every_state_of_an_answer(page: Page, spool_server: DaphneServer) -> None:
    sign_up(page, spool_server.url, "axe-ada")
    check(page, "home-empty")

    # Streaming: an open code fence, then the model goes quiet (30 s).
    answer = send(page, "[code] write some python")
    expect(answer.locator("pre code").first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_have_attribute("aria-busy", "true")
    check(page, "streaming")

    page.keyboard.press("Escape")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
    check(page, "stopped")

    answer = send(page, "hello there")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    check(page, "done")

    page.reload()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    check(page, "idle")

    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-error")).to_contain_text("Write a message first")
    check(page, "invalid-input")

    answer = send(page, "[midstream-error] this one breaks")
    expect(answer.locator("footer .status-error")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    check(page, "failed")


def test_a_rich_demo_answer(page: Page, spool_server: DaphneServer) -> None:
    """Headings, lists, a quote, highlighted code and a table, all finished."""
    sign_up(page, spool_server.url, "axe-bob")
    page.get_by_label("Model").select_option("demo")
    answer = send(page, "a long overview")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(answer.locator("table")).to_be_visible()
    check(page, "done-demo")


def test_settings_saved_and_refused(page: Page, spool_server: DaphneServer) -> None:
    sign_up(page, spool_server.url, "axe-settings")
    page.goto(f"{spool_server.url}/settings/")
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    check(page, "settings")
    page.get_by_label("Only when the answer is done").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Only when the answer is done")).to_be_checked()
    check(page, "settings-saved")
    # A forged choice: the page says what is wrong, and axe still finds nothing.
    page.evaluate(
        "() => { const r = document.querySelector('input[name=read_aloud]'); r.value = 'x'; "
        "r.checked = true; r.form.requestSubmit(); }"
    )
    expect(page.locator("[role=alert], .form-error").first).not_to_be_empty()
    check(page, "settings-refused")
