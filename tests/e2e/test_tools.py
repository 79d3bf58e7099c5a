"""A tool call in a real browser: the demo model asked "What is 2^10?" calls
the calculator; the page shows the chip while the tool runs, the finished
chip before the answer's text, the same after a reload; a screen reader hears
the finished chip once and never its arguments; axe finds nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.conftest import FAKE_MODEL, spool_env
from tests.e2e.a11y import axe_violations, describe, screenshot, spoken
from tests.e2e.live_regions import announcements
from tests.e2e.test_chat import ask, sign_up
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer, run_daphne

pytestmark = pytest.mark.e2e

# The demo model's own pace: its turn ends ~0.6 s after the call (20 token
# delays), long enough to see the running chip.
DEMO_PACE_S = "0.03"
ANSWER = "2^10 is 1024."
SAID = "Calculator: 1024"


@pytest.fixture(scope="module")
def demo_server(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeOpenAIServer
) -> Iterator[DaphneServer]:
    env = spool_env(
        fake_llm,
        SPOOL_DEMO_TOKEN_DELAY_S=DEMO_PACE_S,
        SPOOL_DEFAULT_MODEL="demo",
        SPOOL_LLM_TOOL_MODELS="*",
    )
    with run_daphne(tmp_path_factory.mktemp("tools-e2e"), env) as server:
        yield server


def test_a_calculator_question_shows_its_chip_live_and_after_reload(
    a11y_page: Callable[..., Page], demo_server: DaphneServer
) -> None:
    page = a11y_page()
    sign_up(page, demo_server.url, "tool-chips")
    answer = ask(page, "What is 2^10?")
    chip = answer.locator(".tool-chip")

    # While the tool runs: the running chip, in words.
    expect(chip).to_have_text("Calculating 2^10 …", timeout=15_000)
    expect(chip).to_have_class("tool-chip tool-chip-running")
    screenshot(page, "tool-chip-running")

    expect(chip).to_have_text("Calculated: 1024", timeout=15_000)
    expect(answer.locator(".msg-body")).to_contain_text(ANSWER, timeout=15_000)
    expect(answer.locator(".msg-footer .model-tag")).to_have_text("demo", timeout=15_000)
    expect(chip).to_have_count(1)
    # The chip comes before the text that followed the call.
    text_box = answer.get_by_text(ANSWER).bounding_box()
    chip_box = chip.bounding_box()
    assert chip_box is not None
    assert text_box is not None
    assert chip_box["y"] + chip_box["height"] <= text_box["y"]
    screenshot(page, "tool-chip-done")

    # Said once, when it finished; its streaming arguments never.
    status = [a.text for a in announcements(page, "#sr-status")]
    assert status.count(SAID) == 1, status
    everything = announcements(page)
    assert not any("Calculating" in a.text or "expression" in a.text for a in everything)
    phrases = [p.text for p in spoken(page)]
    assert sum(SAID in phrase for phrase in phrases) == 1, phrases
    assert not any("Calculating" in phrase for phrase in phrases), phrases

    violations = axe_violations(page)
    assert violations == [], describe(violations)

    page.reload()
    answer = page.locator("article.msg-assistant").last
    chip = answer.locator(".tool-chip")
    expect(chip).to_have_text("Calculated: 1024")
    expect(chip).to_have_class("tool-chip tool-chip-done")
    text_box = answer.get_by_text(ANSWER).bounding_box()
    chip_box = chip.bounding_box()
    assert chip_box is not None
    assert text_box is not None
    assert chip_box["y"] + chip_box["height"] <= text_box["y"]
    # A reload announces nothing again.
    assert SAID not in [a.text for a in announcements(page, "#sr-status")]
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    screenshot(page, "tool-chip-reloaded")

    # The chips' colours hold in the dark scheme too.
    page.emulate_media(color_scheme="dark")
    expect(chip).to_have_text("Calculated: 1024")
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    screenshot(page, "tool-chip-dark")


def test_a_refused_call_shows_why_on_its_chip(
    a11y_page: Callable[..., Page], demo_server: DaphneServer
) -> None:
    page = a11y_page()
    sign_up(page, demo_server.url, "tool-refused")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    answer = ask(page, "[tool-unknown] the weather in Paris?")
    chip = answer.locator(".tool-chip")
    refused = "there is no tool named 'weather' (available: calculator, clock)"
    expect(chip).to_have_text(f"Weather failed: {refused}", timeout=15_000)
    expect(chip).to_have_class("tool-chip tool-chip-error")
    # The model read the error as the tool's result and answered from it.
    expect(answer.locator(".msg-body")).to_contain_text(f"The tool returned Error: {refused}.")
    expect(answer.locator(".msg-footer .model-tag")).to_have_text(FAKE_MODEL)
    status = [a.text for a in announcements(page, "#sr-status")]
    assert status.count(f"Weather failed: {refused}") == 1, status
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    screenshot(page, "tool-chip-refused")


def test_markup_in_a_tool_call_is_shown_and_said_as_text(
    a11y_page: Callable[..., Page], demo_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """A model's tool call names a tool ``<img src=x onerror=…>``: the chip
    shows those characters, #sr-status says them, and no image is made."""
    markup = "<img src=x onerror=alert(1)>"
    fake_llm.when("[tool-markup]", Script.tool_call(markup, {"q": "<b>x</b>"}), times=1)
    page = a11y_page()
    dialogs: list[str] = []

    def opened(dialog: Dialog) -> None:  # an alert() that ran
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", opened)
    sign_up(page, demo_server.url, "tool-markup")
    page.get_by_label("Model").select_option(FAKE_MODEL)
    answer = ask(page, "[tool-markup] look")
    said = f"{markup} failed: there is no tool named '{markup}' (available: calculator, clock)"
    expect(answer.locator(".tool-chip")).to_have_text(said, timeout=15_000)
    expect(answer.locator(".msg-footer .model-tag")).to_have_text(FAKE_MODEL, timeout=15_000)
    status = [a.text for a in announcements(page, "#sr-status")]
    assert status.count(said) == 1, status
    assert page.locator("#messages img, #sr-status img").count() == 0
    assert dialogs == []
