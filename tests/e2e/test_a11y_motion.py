"""Motion: the typing indicator stops by itself, and never moves under reduced motion.

WCAG 2.2.2 asks that moving content stop within 5 s (or be controllable);
reduced motion alone is not enough. WCAG 2.3.3 (and plain comfort) asks for
no pulse and no smooth scrolling when the user asked the system for less motion.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.test_chat import sign_up
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 15_000
# WCAG 2.2.2: anything that moves by itself for longer must be controllable.
MOVING_AT_MOST_MS = 5_000
DOTS = ".typing span"
# Per dot: [name, total running time in ms (delay + duration x iterations)].
ANIMATIONS = """sel => [...document.querySelectorAll(sel)].map(el => {
  const s = getComputedStyle(el);
  const ms = v => parseFloat(v) * (v.endsWith("ms") ? 1 : 1000);
  const count = s.animationIterationCount;
  const runs = count === "infinite" ? Infinity : parseFloat(count);
  return [s.animationName, ms(s.animationDelay) + ms(s.animationDuration) * runs];
})"""
RUNNING = "sel => [...document.querySelectorAll(sel)].some(el => el.getAnimations().length > 0)"


def streaming_answer(page: Page, server: DaphneServer, name: str) -> Locator:
    """An answer that stays open (its code fence, then a 30 s silence)."""
    sign_up(page, server.url, name)
    composer = page.get_by_label("Message")
    composer.fill("[code] a fence that stays open")
    composer.press("Enter")
    answer = page.locator("article.msg-assistant").last
    expect(answer.locator(DOTS).first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    return answer


def test_the_indicator_pulses_a_few_times_then_rests(
    page: Page, spool_server: DaphneServer
) -> None:
    answer = streaming_answer(page, spool_server, "still-ada")
    animations = page.evaluate(ANIMATIONS, DOTS)
    assert animations, "the typing indicator is missing"
    assert all(name == "pulse" for name, _ in animations), animations
    assert all(total <= MOVING_AT_MOST_MS for _, total in animations), animations
    assert page.evaluate(RUNNING, DOTS), "the dots should pulse at first"
    # Then they stop by themselves, while the answer is still being written.
    page.wait_for_function(f"sel => !({RUNNING})(sel)", arg=DOTS, timeout=MOVING_AT_MOST_MS)
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.locator(DOTS).first).to_be_visible()
    page.keyboard.press("Escape")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()


def test_reduced_motion_stills_the_indicator_and_scrolling(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    page = new_context(reduced_motion="reduce").new_page()
    answer = streaming_answer(page, spool_server, "still-bob")
    animations = page.evaluate(ANIMATIONS, DOTS)
    assert animations, "the typing indicator is missing"
    assert all(name == "none" for name, _ in animations), animations
    assert not page.evaluate(RUNNING, DOTS)
    for where in ("html", "#conversation"):
        behavior = page.locator(where).evaluate("el => getComputedStyle(el).scrollBehavior")
        assert behavior == "auto", (where, behavior)
    page.keyboard.press("Escape")
    expect(answer.get_by_text("Stopped. The partial answer is kept.")).to_be_visible()
