"""Versions and Copy in a real browser, by keyboard alone: edit & resend, switch
back (kept on reload), regenerate, copy a message; what is announced; axe."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e import live_regions
from tests.e2e.a11y import axe_violations, describe, screenshot
from tests.e2e.test_a11y_axe import check
from tests.e2e.test_chat import sign_up
from tests.e2e.test_keyboard import Keyboard, keyboard_page, sign_up_by_keyboard
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.scripts import Script
from tests.support.daphne import DaphneServer

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT_MS = 30_000
DESKTOP = {"width": 1280, "height": 800}
# Takes the clipboard API away, as in an insecure context or an old browser.
# An own property of navigator: in a secure context the prototype's is added
# after init scripts run.
NO_CLIPBOARD = "Object.defineProperty(navigator, 'clipboard', { get: () => undefined });"


def answers(page: Page) -> Locator:
    return page.locator("article.msg-assistant")


def questions(page: Page) -> Locator:
    return page.locator("article.msg-user")


def finished(answer: Locator, text: str) -> None:
    expect(answer.locator(".msg-body")).to_contain_text(text, timeout=ANSWER_TIMEOUT_MS)
    expect(answer.locator("footer .metrics")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)


def status_texts(page: Page) -> list[str]:
    return [a.text for a in live_regions.announcements(page, "#sr-status")]


def send(keys: Keyboard, text: str, *, first: bool = False) -> None:
    keys.type(text, f"type {text}")
    keys.press("Enter", f"send {text}", navigates=first)


def scripted(fake_llm: FakeOpenAIServer) -> str:
    """Answers the fake model gives, by question: q2 differs when regenerated."""
    k = uuid.uuid4().hex[:8]
    fake_llm.when(f"[{k}-q1]", Script.text("Answer one."))
    fake_llm.when(f"[{k}-q2]", Script.text("Answer two, first try."), times=1)
    fake_llm.when(f"[{k}-q2]", Script.text("Answer two, **regenerated**."))
    fake_llm.when(f"[{k}-edit]", Script.text("Answer to the edit."))
    return k


def test_edit_switch_back_regenerate_and_copy_by_keyboard(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    k = scripted(fake_llm)
    page, keys = keyboard_page(
        new_context, viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up_by_keyboard(page, keys, spool_server.url, f"versions-{k}")
    composer = page.get_by_label("Message")
    send(keys, f"[{k}-q1] first", first=True)
    finished(answers(page).last, "Answer one.")
    send(keys, f"[{k}-q2] second")
    finished(answers(page).last, "Answer two, first try.")

    # Edit & resend the second question: Enter on Edit, the text in a box.
    edit = questions(page).last.get_by_role("button", name="Edit", exact=True)
    keys.tab_to(edit, backwards=True)
    keys.press("Enter", "Enter on Edit")
    box = page.get_by_label("Edit your question")
    expect(box).to_be_focused()
    expect(box).to_have_value(f"[{k}-q2] second")
    # Esc cancels: the question again, focus back on its Edit button.
    keys.press("Escape", "Esc in the edit box")
    expect(box).to_have_count(0)
    expect(questions(page).last.locator(".msg-text")).to_have_text(f"[{k}-q2] second")
    expect(edit).to_be_focused()
    keys.press("Space", "Space on Edit")
    expect(box).to_be_focused()
    keys.press("ControlOrMeta+A", "select the question")
    keys.type(f"[{k}-edit] second, edited", "the new question")
    screenshot(page, "versions-editing")
    keys.tab_to(page.locator("article.is-editing").get_by_role("button", name="Send"))
    keys.press("Enter", "Enter on Send")
    finished(answers(page).last, "Answer to the edit.")
    expect(questions(page).last.locator(".msg-text")).to_have_text(f"[{k}-edit] second, edited")
    expect(page.get_by_text("Answer two, first try.")).to_have_count(0)
    edited = questions(page).last.get_by_role("group", name="Version 2 of 2")
    expect(edited).to_be_visible()
    expect(composer).to_be_focused()
    keys.check("edited and resent")
    # The model saw the first turn and the new question, never the old one.
    prompt = next(
        r.body["messages"]
        for r in reversed(fake_llm.chat_requests)
        if r.last_user_text == f"[{k}-edit] second, edited"
    )
    said = [m["content"] for m in prompt if m["role"] != "system"]
    assert said == [f"[{k}-q1] first", "Answer one.", f"[{k}-edit] second, edited"]
    screenshot(page, "versions-edited")

    # Switch back with the switcher: the old question, its answer, focus kept.
    previous = edited.get_by_role("button", name="Previous version")
    keys.tab_to(previous, backwards=True)
    keys.press("Enter", "Enter on Previous version")
    back = questions(page).last.get_by_role("group", name="Version 1 of 2")
    expect(back).to_be_visible()
    expect(answers(page).last.locator(".msg-body")).to_have_text("Answer two, first try.")
    expect(page.get_by_text("Answer to the edit.")).to_have_count(0)
    # "Previous" is now at the end (disabled): focus moved to "Next".
    expect(back.get_by_role("button", name="Next version")).to_be_focused()
    keys.check("switched back")
    expect(page.locator("#sr-status")).to_have_text("Showing version 1 of 2.")
    assert status_texts(page).count("Showing version 1 of 2.") == 1, status_texts(page)
    screenshot(page, "versions-switched-back")

    # Kept on reload.
    page.reload()
    expect(questions(page).last.get_by_role("group", name="Version 1 of 2")).to_be_visible()
    expect(answers(page).last.locator(".msg-body")).to_have_text("Answer two, first try.")
    keys.check("reloaded")

    # Regenerate the answer (Space): a new version streamed in its place.
    regenerate = answers(page).last.get_by_role("button", name="Regenerate answer")
    keys.tab_to(regenerate, backwards=True)
    keys.press("Space", "Space on Regenerate")
    expect(answers(page)).to_have_count(2)
    regenerated = answers(page).last
    finished(regenerated, "Answer two, regenerated.")
    expect(regenerated.locator(".msg-body strong")).to_have_text("regenerated")
    expect(regenerated.get_by_role("group", name="Version 2 of 2")).to_be_visible()
    expect(composer).to_be_focused()
    keys.check("regenerated")
    status = status_texts(page)
    assert status.count("Answer complete.") == 1, status

    # Copy the answer as Markdown: Enter on Copy, heard once.
    copy = regenerated.get_by_role("button", name="Copy as Markdown")
    keys.tab_to(copy, backwards=True)
    keys.press("Enter", "Enter on Copy")
    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == "Answer two, **regenerated**."
    expect(page.locator("#sr-status")).to_have_text("Message copied.")
    page.wait_for_timeout(300)
    assert status_texts(page).count("Message copied.") == 1, status_texts(page)
    expect(copy).to_have_text("Copy", timeout=5_000)
    keys.check("copied")
    assert errors == [], errors
    screenshot(page, "versions-regenerated-copied")


def test_copy_without_clipboard_selects_the_text_and_the_switcher_passes_axe(
    a11y_page, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    k = scripted(fake_llm)
    page: Page = a11y_page(viewport=DESKTOP)
    page.context.add_init_script(NO_CLIPBOARD)
    sign_up(page, spool_server.url, f"copy-{k}")
    composer = page.get_by_label("Message")
    composer.fill(f"[{k}-q2] a question")
    composer.press("Enter")
    finished(answers(page).last, "Answer two, first try.")
    regenerate = answers(page).last.get_by_role("button", name="Regenerate answer")
    regenerate.focus()
    page.keyboard.press("Enter")
    finished(answers(page).last, "Answer two, regenerated.")
    switcher = page.get_by_role("group", name="Version 2 of 2")
    expect(switcher).to_be_visible()
    # Light and dark, desktop and phone, each looked at (test-artifacts/).
    check(page, "versions-switcher")
    assert page.evaluate("() => typeof navigator.clipboard") == "undefined"

    copy = answers(page).last.get_by_role("button", name="Copy as Markdown")
    copy.focus()
    page.keyboard.press("Enter")
    source = answers(page).last.get_by_label("Copying is not available here")
    expect(source).to_be_visible()
    expect(source).to_be_focused()
    expect(source).to_have_value("Answer two, **regenerated**.")
    selected = page.evaluate(
        "() => [document.activeElement.selectionStart, document.activeElement.selectionEnd]"
    )
    assert selected == [0, len("Answer two, **regenerated**.")]
    expect(page.locator("#sr-status")).to_have_text(
        "Copying is not available here. The text is selected: press Control+C to copy it."
    )
    status = [a.text for a in live_regions.announcements(page, "#sr-status")]
    assert sum("Copying is not available" in t for t in status) == 1, status
    violations = axe_violations(page)
    assert violations == [], describe(violations)
    screenshot(page, "versions-copy-fallback")
    # Esc puts the box away and focus back on Copy.
    page.keyboard.press("Escape")
    expect(source).to_be_hidden()
    expect(copy).to_be_focused()


def test_a_regenerated_retried_or_edited_answer_stops_with_esc_from_the_composer(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """The button pressed goes with the transcript it replaced: focus lands in
    the composer, as after a send, while the new answer streams; Esc stops it
    from there, and focus stays for the next question."""
    k = uuid.uuid4().hex[:8]
    slow = Script.text(" ".join(f"word{i}" for i in range(200)), chunk_size=4, delay=0.1)
    fake_llm.when(f"[{k}-q1]", Script.text("Answer one."), times=1)
    fake_llm.when(f"[{k}-q1]", slow)
    fake_llm.when(f"[{k}-edit]", slow)
    page, keys = keyboard_page(new_context, viewport=DESKTOP)
    sign_up_by_keyboard(page, keys, spool_server.url, f"focus-{k}")
    composer = page.get_by_label("Message")
    stop = page.get_by_role("button", name="Stop generating")
    send(keys, f"[{k}-q1] first", first=True)
    finished(answers(page).last, "Answer one.")

    def streams_then_stops(step: str) -> None:
        expect(stop).to_be_visible()
        expect(answers(page).last.locator(".msg-body")).to_contain_text("word1 ")
        expect(composer).to_be_focused()
        keys.check(f"{step}: streaming")
        keys.press("Escape", f"{step}: Esc")
        expect(
            answers(page).last.get_by_text("Stopped. The partial answer is kept.")
        ).to_be_visible()
        expect(stop).to_have_count(0)
        expect(composer).to_be_focused()
        keys.check(f"{step}: stopped")

    keys.tab_to(answers(page).last.get_by_role("button", name="Regenerate answer"), backwards=True)
    keys.press("Enter", "Enter on Regenerate")
    streams_then_stops("regenerated")

    keys.tab_to(answers(page).last.get_by_role("button", name="Retry"), backwards=True)
    keys.press("Enter", "Enter on Retry")
    streams_then_stops("retried")

    keys.tab_to(questions(page).last.get_by_role("button", name="Edit", exact=True), backwards=True)
    keys.press("Enter", "Enter on Edit")
    keys.press("ControlOrMeta+A", "select the question")
    keys.type(f"[{k}-edit] edited", "the new question")
    keys.tab_to(page.locator("article.is-editing").get_by_role("button", name="Send"))
    keys.press("Enter", "Enter on Send")
    streams_then_stops("edited")


def test_a_refused_edit_says_why_in_the_edit_form_and_keeps_the_text(
    new_context: CreateContextCallback, spool_server: DaphneServer, fake_llm: FakeOpenAIServer
) -> None:
    """Send from the edit box while another answer is written: refused, and
    the reason is in the edit form, not in the composer below the transcript."""
    k = uuid.uuid4().hex[:8]
    slow = Script.text(" ".join(f"word{i}" for i in range(300)), chunk_size=4, delay=0.1)
    fake_llm.when(f"[{k}-q1]", Script.text("Answer one."))
    fake_llm.when(f"[{k}-q2]", slow)
    page, keys = keyboard_page(new_context, viewport=DESKTOP, bypass_csp=True)
    sign_up_by_keyboard(page, keys, spool_server.url, f"edit-refused-{k}")
    composer = page.get_by_label("Message")
    send(keys, f"[{k}-q1] first", first=True)
    finished(answers(page).last, "Answer one.")
    send(keys, f"[{k}-q2] second")
    expect(page.get_by_role("button", name="Stop generating")).to_be_visible()
    keys.type("a draft of the next question", "a draft in the composer")

    edit = questions(page).first.get_by_role("button", name="Edit", exact=True)
    keys.tab_to(edit, backwards=True)
    keys.press("Enter", "Enter on Edit")
    box = page.get_by_label("Edit your question")
    expect(box).to_be_focused()
    # The same limit as the composer's.
    assert box.get_attribute("maxlength") == composer.get_attribute("maxlength")
    assert box.get_attribute("maxlength") not in (None, "")
    keys.type(" and more", "the edited question")
    keys.tab_to(page.locator("article.is-editing").get_by_role("button", name="Send"))
    keys.press("Enter", "Enter on Send")

    refusal = "Wait for the current answer to finish, or stop it, then edit."
    editing = page.locator("article.is-editing")
    expect(editing.get_by_role("alert")).to_have_text(refusal)
    expect(box).to_have_value(f"[{k}-q1] first and more")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_have_accessible_description(re.compile(re.escape(refusal)))
    expect(page.locator("#composer-error")).to_have_text("")
    expect(composer).to_have_value("a draft of the next question")
    expect(questions(page)).to_have_count(2)
    keys.check("refused")
    check(page, "versions-edit-refused")  # axe: both schemes, desktop and phone
