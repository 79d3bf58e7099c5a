"""What the user reads is the conversation, never template syntax.

A template comment that Django does not recognise as one is plain text: it
shows up above a streaming answer (and stays until a reload). This reads the
visible text of ``main``, as the user sees it, while an answer streams and
after it ends.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LONG_ANSWER
from tests.e2e.test_chat import ask, sign_up

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SYNTAX = ("{#", "#}", "{%", "%}", "{{", "}}")
QUESTION = "[long] tell me about foxes"
# Reads of the visible text while the answer streams (~6 s), this far apart.
SAMPLE_EVERY_S = 0.25
MIN_BUSY_SAMPLES = 3
STREAM_TIMEOUT_MS = 20_000


def foreign_syntax(text: str) -> list[str]:
    """Template syntax in ``text`` that the conversation's own text does not hold."""
    own = QUESTION + "\n" + LONG_ANSWER
    return [token for token in SYNTAX if token in text and token not in own]


def test_no_template_syntax_is_shown_while_or_after_streaming(page: Page, spool_server) -> None:
    sign_up(page, spool_server.url, "browser-vera")
    main = page.locator("main")
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("aria-busy", "true")
    expect(answer.locator(".blocks p").first).to_contain_text("Paragraph 0", timeout=10_000)

    busy_samples: list[str] = []
    deadline = time.monotonic() + STREAM_TIMEOUT_MS / 1000
    while answer.get_attribute("aria-busy") == "true" and time.monotonic() < deadline:
        text = main.inner_text()
        if answer.get_attribute("aria-busy") == "true":
            busy_samples.append(text)
        if len(busy_samples) == MIN_BUSY_SAMPLES:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / "visible-text-streaming.png")
        page.wait_for_timeout(SAMPLE_EVERY_S * 1000)
    assert len(busy_samples) >= MIN_BUSY_SAMPLES, "the answer ended before it could be read"
    # The samples saw the answer grow: they were taken while it streamed.
    assert "Paragraph 0" in busy_samples[0]
    assert "Paragraph 39" not in busy_samples[0]

    expect(answer.locator("footer .metrics")).to_be_visible(timeout=STREAM_TIMEOUT_MS)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    finished = main.inner_text()
    assert "Paragraph 39" in finished
    page.screenshot(path=ARTIFACTS / "visible-text-finished.png")

    for number, text in enumerate([*busy_samples, finished]):
        found = foreign_syntax(text)
        assert not found, f"sample {number} shows template syntax {found}:\n{text[:600]}"
