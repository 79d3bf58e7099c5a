"""Retry after a rate limit, in a real browser: the countdown a person sees and hears
(and a failed answer's Continue, which waits the same way)."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e.test_a11y_axe import SIZES, check
from tests.e2e.test_chat import ask, sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import ROOT
from tests.test_continue_failed_flow import PARTIAL
from tests.test_continue_flow import REPEAT_WORDS, WHOLE

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "test-artifacts"
AVAILABLE = "Retry is available."
# Every text #sr-status is given, in order, on every page load: what a screen
# reader is asked to say (the final text alone would hide a repeat).
STATUS_LOG = """
document.addEventListener("DOMContentLoaded", () => {
  window.srStatusLog = [];
  new MutationObserver(records => {
    for (const r of records) {
      for (const node of r.addedNodes) { window.srStatusLog.push(node.textContent); }
    }
  }).observe(document.getElementById("sr-status"), {childList: true, subtree: true});
});
"""
COUNTDOWN = re.compile(r"^Retry in (\d+) s$")
# Long enough for the new conversation's page to load and connect its stream.
ANSWER_AFTER_S = 1.5


def rate_limited_once(fake_llm: FakeOpenAIServer, seconds: int) -> str:
    """A prompt marker answered once with 429 + Retry-After, then normally.

    The 429 comes after ``ANSWER_AFTER_S``, so the page is up and streaming by
    then and gets its footer from the stream's ``done`` frame, as a live page does.
    """
    key = f"[429-{seconds}s-{uuid.uuid4().hex[:8]}]"
    script = Script.http_error(
        429, "Rate limit reached", type="requests", code="rate_limit_exceeded",
        headers={"retry-after": str(seconds)},
    ).with_headers_delay(ANSWER_AFTER_S)  # fmt: skip
    fake_llm.when(key, script, times=1)
    return key


def retry_button(answer: Locator) -> Locator:
    return answer.locator("footer form button")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(Path(ARTIFACTS, name)))


def watch_countdown(button: Locator, timeout_s: float) -> list[str]:
    """The button's distinct visible texts until it is enabled (polled ~10/s)."""
    texts: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        enabled = button.is_enabled()
        text = button.inner_text().strip()
        if not texts or texts[-1] != text:
            texts.append(text)
        if enabled:
            return texts
        button.page.wait_for_timeout(100)
    raise AssertionError(f"Retry never became available: {texts}")


def test_rate_limit_countdown_opens_retry_once(
    page: Page, spool_server, fake_llm: FakeOpenAIServer
) -> None:
    page.add_init_script(STATUS_LOG)
    sign_up(page, spool_server.url, "browser-fay")
    key = rate_limited_once(fake_llm, 3)
    answer = ask(page, f"{key} hello")
    button = retry_button(answer)
    expect(button).to_have_text(COUNTDOWN, timeout=10_000)
    expect(button).to_be_disabled()
    expect(answer.get_by_text("The model is rate-limited.")).to_be_visible()
    # The footer came live, with the stream's end (not from a page render).
    assert "Answer failed." in page.evaluate("window.srStatusLog")
    screenshot(page, "retry-countdown-disabled.png")

    texts = watch_countdown(button, timeout_s=6)
    counts = [int(m.group(1)) for t in texts[:-1] if (m := COUNTDOWN.match(t))]
    assert len(counts) == len(texts) - 1, texts
    assert len(counts) >= 2, f"the seconds never went down: {texts}"
    assert counts == sorted(counts, reverse=True), texts
    assert counts[0] <= 3
    assert texts[-1] == "Retry"
    expect(button).to_be_enabled()
    expect(page.locator("#sr-status")).to_have_text(AVAILABLE)
    screenshot(page, "retry-countdown-enabled.png")
    page.wait_for_timeout(1500)  # a repeat would come with the next tick
    log = page.evaluate("window.srStatusLog")
    assert log.count(AVAILABLE) == 1, log
    # Nothing else about the countdown went to the status region (no per-second chatter).
    assert not [t for t in log if "Retry in" in t], log

    with page.expect_response(re.compile(r"/retry$")) as retried:
        button.click()
    assert retried.value.status == 200, retried.value.text()[:300]
    # Retry is a regenerate: the new answer streams where the failed one was.
    expect(page.locator("article.msg-assistant")).to_have_count(1)
    expect(page.locator("article.msg-assistant").last.locator(".msg-body")).to_contain_text(
        "fake model", timeout=10_000
    )
    expect(page.get_by_role("group", name="Version 2 of 2")).to_be_visible()


def test_reload_during_the_wait_shows_the_seconds_left(
    page: Page, spool_server, fake_llm: FakeOpenAIServer
) -> None:
    sign_up(page, spool_server.url, "browser-eve")
    key = rate_limited_once(fake_llm, 30)
    answer = ask(page, f"{key} hello")
    expect(retry_button(answer)).to_have_text(COUNTDOWN, timeout=10_000)
    page.wait_for_timeout(2500)

    page.reload()
    button = retry_button(page.locator("article.msg-assistant").last)
    expect(button).to_be_disabled()
    first = COUNTDOWN.match(button.inner_text().strip())
    assert first, button.inner_text()
    assert 20 <= int(first.group(1)) <= 28
    # The script counts on from what the server rendered.
    expect(button).to_have_text(f"Retry in {int(first.group(1)) - 1} s", timeout=2_000)
    expect(button).to_be_disabled()


def test_bad_key_shows_what_to_do_instead_of_retry(
    page: Page, spool_server, fake_llm: FakeOpenAIServer
) -> None:
    sign_up(page, spool_server.url, "browser-gus")
    key = f"[401-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.http_error(401, "Incorrect API key", code="invalid_api_key"))
    answer = ask(page, f"{key} hello")
    expect(
        answer.get_by_text("An administrator needs to fix the model's configuration.")
    ).to_be_visible(timeout=10_000)
    expect(answer.get_by_role("button")).to_have_count(0)
    screenshot(page, "retry-not-offered.png")


CONTINUE_COUNTDOWN = re.compile(r"^Continue in (\d+) s$")
BOTH_AVAILABLE = "Continue and Retry are available."


def cut_then_rate_limited(fake_llm: FakeOpenAIServer, seconds: int) -> str:
    """A prompt marker whose answer is cut midway (the connection dropped),
    whose first Continue gets 429 + Retry-After, and whose next one the rest."""
    key = f"[cut-429-{seconds}s-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(
        key, Script.text(PARTIAL, chunk_size=20, delay=0.03, finish=None).then_abrupt_close()
    )
    limited = Script.http_error(
        429, "Rate limit reached", type="requests", code="rate_limit_exceeded",
        headers={"retry-after": str(seconds)},
    )  # fmt: skip
    fake_llm.when_continuing(key, limited, times=1)
    fake_llm.when_continuing(key, Script.continuation(WHOLE, repeat_words=REPEAT_WORDS))
    return key


def rate_limited_continue(page: Page, fake_llm: FakeOpenAIServer, seconds: int) -> Locator:
    """The answer, failed again by a rate limit on its Continue."""
    key = cut_then_rate_limited(fake_llm, seconds)
    answer = ask(page, f"{key} tell me about the river")
    expect(answer.get_by_text("The connection to the model broke off")).to_be_visible(
        timeout=10_000
    )
    with page.expect_response(re.compile(r"/continue$")) as continued:
        answer.get_by_role("button", name="Continue").click()
    assert continued.value.status == 200
    answer = page.locator("article.msg-assistant").last
    expect(answer.get_by_text("The model is rate-limited.")).to_be_visible(timeout=10_000)
    return answer


def test_a_rate_limited_continue_counts_down_beside_retry_and_opens_once(
    page: Page, spool_server, fake_llm: FakeOpenAIServer
) -> None:
    """A failed answer's Continue waits for the model's Retry-After as Retry
    does: both disabled and counted down, then opened in one tick, said once
    ("Continue and Retry are available."); the Continue then finishes it."""
    page.add_init_script(STATUS_LOG)
    sign_up(page, spool_server.url, f"browser-cont-429-{uuid.uuid4().hex[:6]}")
    answer = rate_limited_continue(page, fake_llm, 3)
    buttons = answer.locator("footer form button")
    continue_button, retry = buttons.nth(0), buttons.nth(1)
    expect(continue_button).to_have_text(CONTINUE_COUNTDOWN)
    expect(retry).to_have_text(COUNTDOWN)
    expect(continue_button).to_be_disabled()
    expect(retry).to_be_disabled()
    # The text kept through both failures.
    expect(answer.locator(".msg-body")).to_contain_text("Part 6: the calm hare")
    screenshot(page, "continue-countdown-disabled.png")

    texts = watch_countdown(continue_button, timeout_s=6)
    counts = [int(m.group(1)) for t in texts[:-1] if (m := CONTINUE_COUNTDOWN.match(t))]
    assert len(counts) == len(texts) - 1, texts
    assert counts == sorted(counts, reverse=True), texts
    assert texts[-1] == "Continue"
    expect(retry).to_be_enabled()
    expect(retry).to_have_text("Retry")
    expect(page.locator("#sr-status")).to_have_text(BOTH_AVAILABLE)
    page.wait_for_timeout(1500)  # a repeat would come with the next tick
    log = page.evaluate("window.srStatusLog")
    # The cut, then the Continue's 429 (at once: heard all the same).
    assert log.count("Answer failed.") == 2, log
    assert log.count(BOTH_AVAILABLE) == 1, log
    assert AVAILABLE not in log, log
    assert not [t for t in log if " in " in t and t.endswith(" s")], log

    with page.expect_response(re.compile(r"/continue$")) as continued:
        continue_button.click()
    assert continued.value.status == 200
    answer = page.locator("article.msg-assistant").last
    expect(answer.locator(".msg-body")).to_contain_text("Part 39", timeout=20_000)
    # Said though the rest came at once, before the page's stream connected.
    expect(page.locator("#sr-status")).to_have_text("Answer complete.", timeout=10_000)
    answer_id = answer.get_attribute("id")
    assert answer_id is not None
    row = spool_server.wait_status(answer_id.removeprefix("m-"), "complete")
    assert row["content"] == WHOLE


def test_a_continue_waiting_for_the_model_passes_axe_and_survives_a_reload(
    new_context: CreateContextCallback, spool_server, fake_llm: FakeOpenAIServer
) -> None:

    page = new_context(bypass_csp=True, viewport=SIZES["desktop"]).new_page()  # axe is injected
    sign_up(page, spool_server.url, f"browser-cont-wait-{uuid.uuid4().hex[:6]}")
    answer = rate_limited_continue(page, fake_llm, 60)
    expect(answer.locator("footer form button").first).to_have_text(CONTINUE_COUNTDOWN)
    check(page, "continue-countdown")

    page.reload()
    button = page.locator("article.msg-assistant").last.locator("footer form button").first
    expect(button).to_be_disabled()
    first = CONTINUE_COUNTDOWN.match(button.inner_text().strip())
    assert first, button.inner_text()
    assert 40 <= int(first.group(1)) <= 60
