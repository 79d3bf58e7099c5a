"""A send while the server shuts down, in a real browser: the reason is shown
next to the composer and the text stays to send again."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_chat import ask, sign_up
from tests.e2e.test_retry import screenshot
from tests.support.client import SpoolClient
from tests.support.daphne import run_daphne

pytestmark = pytest.mark.e2e

GRACE_S = 5.0


def test_send_during_shutdown_shows_why_and_keeps_the_text(page: Page, tmp_path: Path) -> None:
    env = {"SPOOL_DEMO_TOKEN_DELAY_S": "0.02", "SPOOL_SHUTDOWN_GRACE_S": str(GRACE_S)}
    with run_daphne(tmp_path, env) as server:
        # Someone else's long answer keeps the process in its grace period.
        other = SpoolClient(server.url).signup()
        _, long_answer = other.start_conversation("[bench:1000]")
        sign_up(page, server.url, "browser-shutdown")
        answer = ask(page, "[bench:5]")
        expect(answer).not_to_have_attribute("aria-busy", "true", timeout=10_000)

        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the reactor handles the signal on its next turn
        text = "a question during the restart"
        ask(page, text)

        error = page.locator("#composer-error")
        expect(error).to_have_text(
            "Spool is restarting and takes no new messages for a moment. "
            "Your text is kept; send it again in a few seconds.",
            timeout=5_000,
        )
        expect(page.get_by_label("Message")).to_have_value(text)
        expect(page.locator("article.msg-assistant")).to_have_count(1)
        screenshot(page, "shutdown-send-refused.png")

        server.process.wait(timeout=GRACE_S + 10)
        assert server.message(long_answer)["status"] == "interrupted"
        other.close()
