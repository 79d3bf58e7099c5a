"""A reasoning model in Chromium: "Thinking…" with the seconds counting, the
thoughts in a collapsed disclosure opened by keyboard, "Thought for N s" once
the answer starts; screen readers hear "Thinking" and "Thought for" once each
and never a thought; no axe-core violation; the effort picker reaches the
model server.

One daphne for the module, serving the fake model as a reasoning model
(``SPOOL_LLM_REASONING_MODELS``) so the effort picker shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import FAKE_MODEL, spool_env
from tests.e2e.a11y import axe_violations, describe, screenshot, spoken
from tests.e2e.live_regions import announcements
from tests.e2e.test_chat import sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer, run_daphne

pytestmark = pytest.mark.e2e

# ~3 s of thinking in two paragraphs: long enough to watch the count.
THOUGHTS = (
    "First I weigh the *quiet* option against the loud one, one step at a time.",
    "Then I check the numbers twice: seven fits, nine does not, so seven it is.",
)
ANSWER = "Pick **seven**.\n\nIt is the one that fits."
SCRIPT = Script.reasoning_then_text(
    "\n\n".join(THOUGHTS), ANSWER, field="reasoning", chunk_size=3, delay=0.06, name="e2e-think"
)
# Thinks for ~6 s: a reload lands while it still thinks.
SLOW_SCRIPT = Script.reasoning_then_text(
    "Slowly now. " * 40, "Done thinking.", field="reasoning", chunk_size=4, delay=0.05,
    name="e2e-think-slow",
)  # fmt: skip
TIMEOUT_MS = 20_000
# Words of the thoughts that no announcement may carry.
THOUGHT_WORDS = ("weigh", "quiet", "numbers", "nine")


@pytest.fixture(scope="module")
def reasoning_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    fake_llm.when("[e2e-think]", SCRIPT)
    fake_llm.when("[e2e-think-slow]", SLOW_SCRIPT)
    env = spool_env(fake_llm, SPOOL_LLM_REASONING_MODELS=FAKE_MODEL)
    with run_daphne(tmp_path_factory.mktemp("reasoning"), env) as server:
        yield server


def send(page: Page, text: str) -> Locator:
    composer = page.get_by_label("Message")
    composer.fill(text)
    composer.press("Enter")
    return page.locator("article.msg-assistant").last


def assert_no_violations(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, describe(violations)


def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    """Press Tab until ``target`` has the focus (keyboard only)."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError("Tab never reached the target")


def test_thinking_is_shown_collapsed_and_heard_once(
    a11y_page: Callable[..., Page],
    reasoning_server: DaphneServer,
    fake_llm: FakeOpenAIServer,
) -> None:
    page = a11y_page()
    sign_up(page, reasoning_server.url, "thinker-ada")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    answer = send(page, "[e2e-think] which number fits?")

    details = answer.locator("details.reasoning")
    summary = details.locator("summary")
    # While it thinks: "Thinking…" and the seconds, the thoughts collapsed.
    expect(summary).to_contain_text("Thinking…", timeout=TIMEOUT_MS)
    expect(summary.locator(".reasoning-elapsed")).to_have_text(re.compile(r"^[1-9]\d* s$"))
    expect(details).not_to_have_attribute("open", re.compile(".*"))
    expect(answer.get_by_text("weigh the", exact=False)).to_be_hidden()
    screenshot(page, "reasoning-thinking")
    assert_no_violations(page)

    # The answer starts: "Thought for N s", the answer in the body.
    expect(summary).to_have_text(re.compile(r"^Thought for \d+ s\s*$"), timeout=TIMEOUT_MS)
    expect(answer.locator(".msg-body")).to_contain_text("It is the one that fits.")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=TIMEOUT_MS)
    expect(answer.locator("footer .metrics")).to_contain_text("first answer token")
    expect(answer.locator("footer .metrics")).to_contain_text("reasoning tokens")
    expect(answer.locator(".msg-body")).not_to_contain_text("weigh")

    # Keyboard: Tab to the disclosure, Enter opens it, the thoughts show.
    page.locator("#conversation").focus()
    tab_to(page, summary)
    page.keyboard.press("Enter")
    expect(details).to_have_attribute("open", "")
    expect(details.locator(".reasoning-body")).to_contain_text("seven fits, nine does not")
    expect(details.locator(".reasoning-body em")).to_have_text("quiet")
    screenshot(page, "reasoning-open")
    assert_no_violations(page)

    # Heard: "Thinking…" once, "Thought for N seconds." once, the answer; no thought.
    said = [a.text for a in announcements(page)]
    assert sum(text == "Thinking…" for text in said) == 1, said
    assert sum(text.startswith("Thought for") for text in said) == 1, said
    assert said[-1] == "Answer complete.", said
    assert not any(word in text for text in said for word in THOUGHT_WORDS), said
    assert [p.text for p in spoken(page)] == said

    # After a reload: stored, collapsed, "Thought for N s", still no violation.
    page.reload()
    details = page.locator("article.msg-assistant").last.locator("details.reasoning")
    expect(details.locator("summary")).to_have_text(re.compile(r"^Thought for \d+ s$"))
    expect(details).not_to_have_attribute("open", re.compile(".*"))
    expect(page.locator("article.msg-assistant").last).to_contain_text("It is the one that fits.")
    screenshot(page, "reasoning-reloaded")
    assert_no_violations(page)


def test_the_effort_picker_reaches_the_model(
    a11y_page: Callable[..., Page],
    reasoning_server: DaphneServer,
    fake_llm: FakeOpenAIServer,
) -> None:
    page = a11y_page()
    sign_up(page, reasoning_server.url, "thinker-effort")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    asked = len(fake_llm.chat_requests)
    answer = send(page, "first question")
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=TIMEOUT_MS)
    request = fake_llm.wait_for_requests(asked + 1)[asked]
    assert request.last_user_text == "first question"
    assert "reasoning_effort" not in request.body

    picker = page.get_by_label("Reasoning effort")
    expect(picker).to_have_value("")
    picker.select_option("high")
    page.get_by_role("button", name="Set effort").press("Enter")
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_label("Reasoning effort")).to_have_value("high")
    screenshot(page, "reasoning-effort")
    assert_no_violations(page)

    asked = len(fake_llm.chat_requests)
    answer = send(page, "second question")
    expect(page.locator("article.msg-assistant")).to_have_count(2)
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=TIMEOUT_MS)
    request = fake_llm.wait_for_requests(asked + 1)[asked]
    assert request.last_user_text == "second question"
    assert request.body["reasoning_effort"] == "high"


def test_a_reload_while_it_thinks_shows_the_thinking_so_far_silently(
    a11y_page: Callable[..., Page], reasoning_server: DaphneServer
) -> None:
    page = a11y_page()
    sign_up(page, reasoning_server.url, "thinker-reload")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    answer = send(page, "[e2e-think-slow] take your time")
    summary = answer.locator("details.reasoning summary")
    expect(summary).to_contain_text("Thinking…", timeout=TIMEOUT_MS)
    expect(summary.locator(".reasoning-elapsed")).to_have_text(re.compile(r"^[2-9] s$"))

    page.reload()
    answer = page.locator("article.msg-assistant").last
    details = answer.locator("details.reasoning")
    # Rendered by the server from the log: visible, collapsed, counting on from
    # the seconds already thought (not from 0), with the thoughts so far inside.
    expect(details).to_be_visible()
    expect(details).not_to_have_attribute("open", re.compile(".*"))
    expect(details.locator("summary")).to_contain_text("Thinking…")
    expect(details.locator(".reasoning-elapsed")).to_have_text(re.compile(r"^[2-9] s$"))
    expect(details.locator(".reasoning-body")).to_contain_text("Slowly now.")
    screenshot(page, "reasoning-reloaded-thinking")
    expect(details.locator("summary")).to_have_text(
        re.compile(r"^Thought for \d+ s\s*$"), timeout=TIMEOUT_MS
    )
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=TIMEOUT_MS)
    expect(answer.locator(".msg-body")).to_have_text("Done thinking.")
    # The reloaded page heard the end of the thinking, never "Thinking…" again
    # (a snapshot is silent) and never a thought.
    said = [a.text for a in announcements(page)]
    assert "Thinking…" not in said, said
    assert sum(text.startswith("Thought for") for text in said) == 1, said
    assert not any("Slowly" in text for text in said), said
