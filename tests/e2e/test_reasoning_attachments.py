"""Both halves of issue 20 on one page, keyboard only: a question with an image
and a text file, answered by the thinking demo model; the thoughts opened by
keyboard; the announcements hold "Thinking" and "Thought for" once each and
no thought; 0 axe-core violations with both on the page, in both colour
schemes, on a desktop and a phone."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.conftest import spool_env
from tests.e2e.live_regions import announcements
from tests.e2e.test_a11y_axe import check
from tests.e2e.test_attachments import NOTES, SHOT, _attach_by_keyboard
from tests.e2e.test_keyboard import answer, keyboard_page, sign_up_by_keyboard
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.daphne import DaphneServer, run_daphne

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 30_000
# Words of the demo model's thoughts (streaming/providers/demo.py) no announcement may hold.
THOUGHT_WORDS = ("question first", "safest choice")


@pytest.fixture(scope="module")
def thinking_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    tmp: Path = tmp_path_factory.mktemp("think-attach")
    env = spool_env(fake_llm, SPOOL_DEFAULT_MODEL="demo-thinking", SPOOL_DEMO_TOKEN_DELAY_S="0.02")
    with run_daphne(tmp, env) as server:
        yield server


def test_a_thinking_answer_to_attachments_by_keyboard(
    new_context: CreateContextCallback, thinking_server: DaphneServer
) -> None:
    page, keys = keyboard_page(
        new_context, viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    sign_up_by_keyboard(page, keys, thinking_server.url, f"think-{uuid.uuid4().hex[:6]}")
    keys.type("hello", "first message")
    keys.press("Enter", "send", navigates=True)
    expect(answer(page).locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)

    _attach_by_keyboard(page, keys, [SHOT, NOTES])
    keys.tab_to(page.get_by_label("Message"), backwards=True)
    keys.type("What are these?", "the question")
    before = len(announcements(page))
    keys.press("Enter", "send with attachments")
    reply = answer(page)
    summary = reply.locator("details.reasoning summary")
    expect(summary).to_contain_text("Thinking…", timeout=ANSWER_TIMEOUT_MS)
    expect(summary).to_have_text(re.compile(r"^Thought for \d+ s\s*$"), timeout=ANSWER_TIMEOUT_MS)
    expect(reply.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(reply.locator(".msg-body")).to_contain_text("I received 2 attachments")
    sent = page.locator("article.msg-user").last
    expect(sent.get_by_role("img", name="shot.png")).to_be_visible()
    expect(sent.get_by_role("link", name=re.compile(r"^notes\.txt"))).to_be_visible()

    keys.tab_to(summary, backwards=True)
    keys.press("Enter", "open the thoughts")
    details = reply.locator("details.reasoning")
    expect(details).to_have_attribute("open", "")
    expect(details.locator(".reasoning-body")).to_contain_text("question first")
    keys.check("thoughts open")
    # Light and dark, desktop and phone, each looked at (test-artifacts/).
    check(page, "reasoning-attachments")

    said = [a.text for a in announcements(page)[before:]]
    assert sum(text == "Thinking…" for text in said) == 1, said
    assert sum(text.startswith("Thought for") for text in said) == 1, said
    assert not any(word in text for text in said for word in THOUGHT_WORDS), said
