"""The read-aloud setting in a real browser: what lands in the live regions in each mode.

"As they stream" (the default): the answer's finished blocks, paced, in
several announcements. "Only when done": nothing while the answer is written,
then exactly one announcement of the whole answer's speech (or its first
blocks and "… N more blocks."). Recorded with tests/e2e/live_regions.py.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.conftest import LONG_ANSWER
from tests.e2e import live_regions
from tests.e2e.test_chat import ask, sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Six short paragraphs over ~4.5 s: long enough for the 2.5 s pacing to split them.
PARAGRAPHS = [f"Step {i} of the plan is written out in full here." for i in range(6)]
PACED_TEXT = "\n\n".join(PARAGRAPHS)
PACED_SPEECH = " ".join(PARAGRAPHS)
ANSWER_TIMEOUT_MS = 30_000
SAID_DONE = "Answers are read aloud only when done."
SAID_STREAMING = "Answers are read aloud as they stream."


def paced(fake_llm: FakeOpenAIServer) -> str:
    key = f"[paced-{uuid.uuid4().hex[:8]}]"
    fake_llm.when(key, Script.text(PACED_TEXT, chunk_size=4, delay=0.05, name="paced"))
    return key


def recorded(new_context: CreateContextCallback) -> tuple[BrowserContext, Page]:
    context = new_context(viewport={"width": 1280, "height": 800})
    live_regions.install(context)
    return context, context.new_page()


def said(page: Page, region: str) -> list[str]:
    return [a.text for a in live_regions.announcements(page, region)]


def finished(answer: Locator) -> None:
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(answer).not_to_have_attribute("aria-busy", "true")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"read-aloud-{name}.png")


def switch(page: Page) -> Locator:
    return page.get_by_role("switch", name="Read answers aloud as they stream")


def test_as_they_stream_reads_whole_blocks_in_several_announcements(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    _, page = recorded(new_context)
    sign_up(page, spool_server.url, f"ra-stream-{uuid.uuid4().hex[:6]}")
    expect(switch(page)).to_be_checked()
    answer = ask(page, f"{paced(fake_llm)} plan it")
    expect(answer).to_have_attribute("aria-busy", "true")
    # Heard while the answer is still being written.
    expect(page.locator("#sr-answer p").first).to_have_text(PARAGRAPHS[0], timeout=10_000)
    assert answer.get_attribute("aria-busy") == "true"
    finished(answer)
    heard = said(page, "#sr-answer")
    assert len(heard) >= 2, heard
    # Whole blocks, each once, in order; the one read-out of the other mode is dropped.
    assert " ".join(heard) == PACED_SPEECH
    assert all(text.endswith(".") and text.startswith("Step") for text in heard), heard
    # ("Generating answer…" may come first on a slow machine: the first block took > 1 s.)
    statuses = said(page, "#sr-status")
    assert statuses[-1] == "Answer complete."
    assert statuses.count("Answer complete.") == 1


def test_only_when_done_reads_the_whole_answer_once_at_the_end(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    _, page = recorded(new_context)
    base = spool_server.url
    sign_up(page, base, f"ra-done-{uuid.uuid4().hex[:6]}")

    # The switch, by keyboard: Space turns it off, saved at once, said once.
    switch(page).focus()
    with page.expect_response(re.compile(r"/settings/$")) as saved:
        page.keyboard.press("Space")
    assert saved.value.status == 204
    expect(switch(page)).not_to_be_checked()
    expect(page.locator("#sr-status")).to_have_text(SAID_DONE)
    expect(switch(page)).to_be_focused()
    shot(page, "switch-off")
    page.wait_for_timeout(300)
    assert said(page, "#sr-status") == [SAID_DONE]

    answer = ask(page, f"{paced(fake_llm)} plan it")
    expect(answer.locator(".blocks p").nth(2)).to_be_attached(timeout=10_000)
    assert answer.get_attribute("aria-busy") == "true"
    assert said(page, "#sr-answer") == [], "nothing is read while the answer is written"
    finished(answer)
    expect(page.locator("#sr-answer p")).to_have_count(1)
    assert said(page, "#sr-answer") == [PACED_SPEECH]
    assert said(page, "#sr-status")[-1] == "Answer complete."

    # Kept on the server: a fresh page and the settings page show it.
    page.reload()
    expect(switch(page)).not_to_be_checked()
    page.goto(f"{base}/settings/")
    expect(page.get_by_role("radio", name="Only when the answer is done")).to_be_checked()


def test_only_when_done_reads_the_start_of_a_long_answer_and_counts_the_rest(
    new_context: CreateContextCallback, spool_server: DaphneServer
) -> None:
    _, page = recorded(new_context)
    base = spool_server.url
    sign_up(page, base, f"ra-long-{uuid.uuid4().hex[:6]}")
    # The settings page, plain form: pick "Only when the answer is done", Save.
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    expect(page.get_by_role("radio", name="Read answers aloud as they stream")).to_be_checked()
    shot(page, "settings-page")
    page.get_by_role("radio", name="Only when the answer is done").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your settings are saved.")).to_be_visible()
    expect(page.get_by_role("radio", name="Only when the answer is done")).to_be_checked()
    shot(page, "settings-saved")

    page.goto(f"{base}/")
    expect(switch(page)).not_to_be_checked()
    answer = ask(page, "[long] a long story")
    expect(answer.locator(".blocks p").nth(5)).to_be_attached(timeout=10_000)
    assert said(page, "#sr-answer") == []
    finished(answer)
    expect(page.locator("#sr-answer p")).to_have_count(1)
    [heard] = said(page, "#sr-answer")
    paragraphs = LONG_ANSWER.split("\n\n")
    match = re.fullmatch(r"(.*) … (\d+) more blocks\.", heard)
    assert match, heard
    kept = int(len(paragraphs) - int(match.group(2)))
    assert match.group(1) == " ".join(paragraphs[:kept])
    assert 5 <= kept < len(paragraphs)
    assert len(match.group(1)) <= 1000


def test_turning_the_switch_back_on_mid_answer_reads_the_rest_as_it_streams(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    _, page = recorded(new_context)
    sign_up(page, spool_server.url, f"ra-flip-{uuid.uuid4().hex[:6]}")
    switch(page).uncheck()
    expect(page.locator("#sr-status")).to_have_text(SAID_DONE)
    answer = ask(page, "[long] switch midway")
    expect(answer.locator(".blocks p").nth(3)).to_be_attached(timeout=10_000)
    assert said(page, "#sr-answer") == []
    switch(page).focus()
    page.keyboard.press("Space")
    expect(page.locator("#sr-status")).to_have_text(SAID_STREAMING)
    finished(answer)
    heard = said(page, "#sr-answer")
    # Only the blocks announced after the switch, never the whole-answer read-out.
    assert heard, "the rest of the answer is read as it streams"
    assert not any("more blocks" in text for text in heard), heard
    assert "Paragraph 0:" not in " ".join(heard)
    assert " ".join(heard).endswith(LONG_ANSWER.split("\n\n")[-1])
