"""kill -9 of the server halfway through an answer, in a real browser: after
the restart the page shows the answer as last saved from its first paint
(not an empty "Generating…"), marked interrupted."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import FAKE_MODEL, spool_env
from tests.e2e.test_chat import ask, sign_up
from tests.e2e.test_retry import screenshot
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.daphne import run_daphne

pytestmark = pytest.mark.e2e

# The [long] answer: 400 characters a second; a checkpoint every second.
MAX_LOST_CHARS = 500


def words(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_after_kill_9_the_first_paint_shows_the_saved_answer(
    page: Page, tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    env = spool_env(fake_llm)
    with run_daphne(tmp_path, env) as server:
        sign_up(page, server.url, "browser-crash")
        page.get_by_label("Model").select_option(FAKE_MODEL)
        answer = ask(page, "[long] a story the server will not finish")
        expect(answer.locator(".blocks p").nth(20)).to_be_attached(timeout=15_000)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        shown_before = words(answer.locator(".msg-body").inner_text())
        screenshot(page, "crash-before-kill.png")
        path = page.url.split("127.0.0.1:", 1)[1].split("/", 1)[1]
    with run_daphne(tmp_path, env) as again:
        page.goto(f"{again.url}/{path}")
        answer = page.locator("article.msg-assistant").last
        # No wait for a stream: the server's HTML already holds the saved text.
        shown_after = words(answer.locator(".msg-body").inner_text())
        assert shown_after
        assert shown_before.startswith(shown_after)
        assert len(shown_before) - len(shown_after) <= MAX_LOST_CHARS
        expect(answer).not_to_have_attribute("aria-busy", "true")
        expect(answer.get_by_text("Generating…")).to_have_count(0)
        screenshot(page, "crash-first-paint-after-restart.png")
        rows = again.query("SELECT status FROM chatapp_message WHERE role = 'assistant'")
        assert [row["status"] for row in rows] == ["interrupted"]
